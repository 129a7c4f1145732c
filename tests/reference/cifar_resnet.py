"""An independent CIFAR ResNet written from He et al. 2016, section 4.2 (and the widely used
option-A reference code): the yardstick for netc's CIFAR specs. Attribute names follow the specs'
IR names so that one state_dict fits both."""
import torch
from torch import nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra, self.shortcut = stride, cout - cin, shortcut

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.shortcut:
            s = x[:, :, ::self.stride, ::self.stride]
            out = out + F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, n, shortcut=True, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        widths, cin = (16, 32, 64), 16
        for s, width in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if s and not b else 1, shortcut))
                cin = width
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))
