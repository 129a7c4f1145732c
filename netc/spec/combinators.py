"""The combinators: each turns one spec construct into primitive nodes through the Expander.

    seq        a named sequence                   residual   body + shortcut, merged by add/concat
    parallel   branches merged by concat or add   highway    h * t + x * (1 - t)
    repeat     the same body n times              stages     a stage table of blocks
    dag        named nodes with explicit inputs
"""
from __future__ import annotations

from .errors import ShapeError, SpecError, did_you_mean
from .expressions import format_name, resolve
from .loader import LocDict, LocList, location_of


def _listed(value):
    """`then: relu` and `then: [relu]` mean the same."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _then(ex, args, out, scope, ns):
    then = _listed(args.get("then"))
    auto = (lambda i: "out") if len(then) == 1 else (lambda i: f"out{i}")
    return ex.items(then, out, scope.child(ns), auto)


def seq(ex, args, x, scope, ns, loc):
    start, stages_before = len(ex.graph.nodes), len(ex.graph.meta.get("stages", []))
    out = ex.items(args["body"], x, scope.child(ns))
    if args.get("numbering") == "flat":
        out = _number_flat(ex, ns, start, stages_before, out, loc)
    if "submodel" in args:
        _submodel(ex, args, x, scope, start, loc)
    return out


def _submodel(ex, args, x, scope, start, loc):
    """Record the seq's layers as one sub-model (graph meta `submodels`): backends that nest
    models write them as one (netc/backends/keras/submodels.py checks that they can)."""
    nodes = [n.name for n in ex.graph.nodes[start:]]
    if not nodes:
        raise SpecError("a submodel needs at least one layer", loc)
    name = scope.join(format_name(args["submodel"], ex.env_for(scope, x),
                                  location_of(args, "submodel")))
    if name in ex.graph or any(s["name"] == name for s in ex.graph.meta.get("submodels", [])):
        raise SpecError(f"submodel '{name}' takes a name already given to a layer or submodel",
                        location_of(args, "submodel"))
    ex.graph.meta.setdefault("submodels", []).append({"name": name, "nodes": nodes})


def _number_flat(ex, ns, start, stages_before, out, loc):
    """Rename the nodes made since `start` to ns.0, ns.1, ... in order: torchvision builds VGG's
    `features` as nn.Sequential(*layers), so each layer's key is its position in that one list,
    whatever stage table it came from."""
    nodes = ex.graph.nodes[start:]
    renamed = {n.name: f"{ns}.{k}" for k, n in enumerate(nodes)}
    clash = next((new for new in renamed.values() if new in ex.graph and new not in renamed), None)
    if clash:
        raise SpecError(f"flat numbering names a layer '{clash}', which already exists", loc)
    ex.graph.rename(renamed)
    first = {}  # every enclosing level of a renamed layer -> its first layer's new name
    for old, new in renamed.items():
        parts = old.split(".")
        for i in range(1, len(parts)):
            first.setdefault(".".join(parts[:i]), new)
    for stage in ex.graph.meta.get("stages", [])[stages_before:]:
        # a stage's blocks no longer own a namespace: point at each block's first layer
        stage["blocks"] = [first[b] for b in stage["blocks"]]
    return renamed.get(out, out)


def residual(ex, args, x, scope, ns, loc):
    inner = scope.child(ns)
    y = ex.items(args["body"], x, inner)
    merge = args.get("merge", "add")
    env = ex.env_for(inner, x)
    shortcut = resolve(args.get("shortcut", "identity"), env, location_of(args, "shortcut"))
    s = _shortcut(ex, shortcut, x, y, merge, inner, ns, location_of(args, "shortcut") or loc)
    p = resolve(args.get("drop_path", 0), env, location_of(args, "drop_path"))
    if p and s is None:
        raise SpecError("drop_path drops the residual branch and keeps the shortcut; with "
                        "'shortcut: none' it would drop the whole signal",
                        location_of(args, "drop_path"), hint="give the residual a shortcut")
    if p:
        y = ex.builder.add(f"{ns}.drop_path", "drop_path",
                           {"p": p, "scale": args.get("drop_path_scale", "test")}, [y], loc)
    if s is None:
        return _then(ex, args, y, scope, ns)
    inputs = [s, y] if merge == "concat" else [y, s]
    try:
        out = ex.builder.add(_fresh(ex, f"{ns}.{merge}"), merge, {}, inputs, loc)
    except ShapeError as exc:
        if s != x or exc.hint:
            raise
        raise ShapeError(exc.message, exc.loc, "the body changes the shape, so the identity "
                         "shortcut cannot meet it; give the residual a shortcut with a body "
                         "(a projection) or 'shortcut: zeropad'") from None
    entry = {"name": ns, "input": x, "body": y, "shortcut": s, "merge": out, "kind": merge}
    order = args.get("merge_order", "shortcut_first")
    if order != "shortcut_first":
        if merge != "add":
            raise SpecError(f"merge_order orders an add's operands; a {merge} orders its "
                            "channels by the shortcut first", location_of(args, "merge_order"),
                            hint="drop merge_order, or merge with add")
        entry["order"] = order
    ex.graph.meta.setdefault("residuals", []).append(entry)
    return _then(ex, args, out, scope, ns)


def _shortcut(ex, shortcut, x, y, merge, scope, ns, loc):
    sx, sy = ex.builder.shape(x), ex.builder.shape(y)
    if isinstance(shortcut, dict):
        kind = resolve(shortcut.get("type", "projection"), ex.env_for(scope, x), loc)
        if kind != "projection":
            return _shortcut(ex, kind, x, y, merge, scope, ns, loc)
        if "body" not in shortcut:
            raise SpecError("a projection shortcut needs a 'body'", loc)
        when = shortcut.get("when", "shape_changes")
        if merge == "concat" and when != "always":
            raise SpecError("a projection shortcut of a concatenating residual never sees a shape "
                            "change, so it would never run", loc,
                            hint="give the shortcut 'when: always', or drop its body")
        if when == "always" or (merge == "add" and sx != sy):
            name = f"{ns}.{shortcut.get('name', 'shortcut')}"
            return ex.items(shortcut["body"], x, scope.child(name))
        return x
    if shortcut == "identity":
        return x
    if shortcut == "none":
        return None
    if shortcut == "zeropad":
        if sx == sy:
            return x
        stride = -(-sx[1] // sy[1]) if len(sx) == 3 and len(sy) == 3 else 0
        if not stride or [-(-sx[1] // stride), -(-sx[2] // stride)] != sy[1:] or sy[0] < sx[0]:
            raise SpecError(f"{ns}: a zero-padding shortcut cannot map {'x'.join(map(str, sx))} "
                            f"to {'x'.join(map(str, sy))}", loc)
        return ex.builder.add(f"{ns}.shortcut", "channel_pad", {"out": sy[0], "stride": stride}, [x], loc)
    raise SpecError(f"unknown shortcut '{shortcut}'", loc,
                    did_you_mean(shortcut, ["identity", "zeropad", "none", "projection"]))


def parallel(ex, args, x, scope, ns, loc):
    branches = args["branches"]
    inner = scope.child(ns)
    outs = []
    if isinstance(branches, dict):
        for key, body in branches.items():
            outs.append(ex.items(body, x, scope.child(f"{ns}.{key}")))
    else:
        for b, body in enumerate(branches):
            outs.append(ex.items(body, x, inner, auto=lambda i, b=b: f"{b}.{i}"))
    merge = args.get("merge", "concat")
    out = outs[0] if len(outs) == 1 else ex.builder.add(_fresh(ex, f"{ns}.{merge}"), merge, {}, outs, loc)
    return _then(ex, args, out, scope, ns)


def _fresh(ex, name):
    """`name`, or `name1`, `name2`, ... when a nested parallel or a residual with an empty name
    took it (ViT's encoder block holds two residuals side by side)."""
    k, out = 0, name
    while out in ex.graph:
        k += 1
        out = f"{name}{k}"
    return out


def highway(ex, args, x, scope, ns, loc):
    h = ex.items(args["body"], x, scope.child(ns))
    gate = args["gate"]
    name, body = (gate.get("name", "gate"), gate["body"]) if isinstance(gate, dict) else ("gate", gate)
    t = ex.items(body, x, scope.child(f"{ns}.{name}"))
    return ex.builder.add(f"{ns}.gated_sum", "gated_sum", {}, [h, t, x], loc)


def repeat(ex, args, x, scope, ns, loc):
    env = ex.env_for(scope, x)
    times = resolve(args["times"], env, location_of(args, "times"))
    _check_count(times, location_of(args, "times"))
    template = args.get("name", "{i}")
    body = args["body"]
    if not isinstance(body, list) and "name" in args and isinstance(body, dict) \
            and "name" in (next(iter(body.values()), None) or {}):
        raise SpecError("the repeat and its one layer both give a name", location_of(args, "name"),
                        hint="name the repetitions on the repeat, or the layer with {i} in it")
    for i in range(times):
        step = scope.child(scope.prefix, {**scope.env, "i": i})
        name = format_name(template, {**env, "i": i}, location_of(args, "name"))
        if isinstance(body, list):
            x = ex.items(body, x, step.child(step.join(name)))
        else:  # one layer: its own `when` and `name` apply to each repetition
            x = ex.item(body, x, step, location_of(args, "body"), name)
    return x


def _check_count(n, loc):
    from .expand import MAX_REPEAT

    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise SpecError(f"a repeat count must be a whole number >= 0, got {n!r}", loc)
    if n > MAX_REPEAT:
        raise SpecError(f"repeat count {n:,} is over netc's limit of {MAX_REPEAT:,}", loc,
                        "no network in the literature repeats a block that often; check the number")


def stages(ex, args, x, scope, ns, loc):
    block_name = args["block"]
    if block_name not in ex.doc.blocks:
        raise SpecError(f"unknown block '{block_name}'", location_of(args, "block"),
                        did_you_mean(block_name, ex.doc.blocks))
    columns, rows = args["columns"], args["rows"]
    params = ex.doc.blocks[block_name].params
    for i, col in enumerate(columns):
        if col in columns[:i]:
            raise SpecError(f"column '{col}' is named twice", location_of(columns, i))
    for key in args.get("args") or {}:
        if key in columns:
            raise SpecError(f"'{key}' is both a column and in 'args'; a row's value and the "
                            "common one would conflict", location_of(args["args"], key),
                            hint="keep it in one place")
    for i, col in enumerate(columns):
        if col not in ("repeat", "name") and col not in params:
            raise SpecError(f"column '{col}' is not a parameter of block '{block_name}'",
                            location_of(columns, i), did_you_mean(col, [*params, "repeat"]))
    first = args.get("first") or []
    for i, col in enumerate(first):
        if col not in columns:
            raise SpecError(f"'first' names '{col}', which is not a column",
                            location_of(first, i), did_you_mean(col, columns))
    env = ex.env_for(scope, x)
    table = [_row(row, columns, location_of(rows, r), env) for r, row in enumerate(rows)]
    counts = [row.get("repeat", 1) if row is not None else 0 for row, _ in table]
    for (row, row_loc), n in zip(table, counts):
        _check_count(n, row_loc)
    total, index = sum(counts), 0
    start = args.get("start", 1)
    for s, ((row, row_loc), n) in enumerate(zip(table, counts)):
        if row is None:  # a layer between modules, as a paper's table lists its pooling rows
            x = ex.item(rows[s], x, scope, row_loc, f"row{start + s}")
            continue
        stage_env = {**scope.env, "stage": start + s, "count": total}
        # an empty stage or block name adds no level (MobileNetV2's features.1, GoogLeNet's
        # inception3a); a `name` column names each row's stage
        stage_name = scope.join(format_name(str(row.get("name", args.get("name", "stage{stage}"))),
                                            stage_env, location_of(args, "name") or loc))
        blocks = []
        for b in range(n):
            block_env = {**stage_env, "block": b, "index": index}
            call = LocDict({k: v for k, v in row.items()
                            if k not in ("repeat", "name") and (k not in first or b == 0)})
            call.update(args.get("args") or {})
            call.loc, call.key_locs, call.value_locs = row_loc, {}, {}
            local = format_name(args.get("block_name", "{block}"), block_env,
                                location_of(args, "block_name") or loc)
            full = ".".join(part for part in (stage_name, local) if part)
            x = ex.block(block_name, call, x, scope.child(scope.prefix, block_env), full, row_loc)
            blocks.append(full)
            index += 1
        ex.graph.meta.setdefault("stages", []).append(
            {"name": stage_name, "block": block_name, "blocks": blocks, "row": dict(row),
             "shape": ex.builder.shape(x)})
        if "between" in args and s < len(table) - 1:
            x = ex.item(args["between"], x, scope.child(scope.prefix, stage_env),
                        location_of(args, "between"), f"between{start + s}")
    return x


def _row(row, columns, loc, env):
    if isinstance(row, dict):
        return None, loc
    if not isinstance(row, list) or len(row) != len(columns):
        found = len(row) if isinstance(row, list) else type(row).__name__
        raise SpecError(f"a row needs {len(columns)} values ({', '.join(columns)}), found {found}", loc)
    return {c: resolve(v, env, loc) for c, v in zip(columns, row)}, loc


def dag(ex, args, x, scope, ns, loc):
    """Named nodes, each reading earlier nodes, the block's named inputs or layers made before.
    A node with several inputs merges them (`merge:`) or hands them to a block that declares as
    many `inputs:` (its body's first layer)."""
    values = {"input": x, **(scope.inputs or {})}
    nested = args.get("node_namespaces", True)
    nodes = args["nodes"]
    for i, node in enumerate(nodes):
        node_loc = location_of(nodes, i)
        name = node["name"]
        if name in values:
            raise SpecError(f"dag node '{name}' is defined twice", node_loc)
        sources = node.get("from", [list(values)[-1]])
        sources = [sources] if isinstance(sources, str) else sources
        inputs = []
        for k, src in enumerate(sources):
            # a dag node of its own, or a layer (namespace) of the network made before the dag:
            # U-Net's skips and a segmentation model's auxiliary head read `backbone.layer3`
            value = values.get(src) or ex.graph.value_of(src)
            if value is None:
                where = location_of(node["from"], k) if isinstance(node.get("from"), list) else None
                raise SpecError(f"dag node '{name}' reads '{src}', which is not defined before it",
                                where or location_of(node, "from"), did_you_mean(src, values))
            inputs.append(value)
        full = f"{ns}.{name}" if ns else name  # a dag named "" adds no level
        merge = node.get("merge")
        body = node.get("body") or LocList()
        if merge is None and len(inputs) > 1 and not _calls_block(ex, body):
            raise SpecError(f"dag node '{name}' has {len(inputs)} inputs and needs "
                            "'merge: add | concat | mul' (or another op that reads several), "
                            "or a body whose first layer is a block that declares as many "
                            "`inputs:`", node_loc)
        level = full if nested else ns  # where the node's layers are named
        if merge is not None:  # `concat`, or an op with arguments: `{resize: {mode: bilinear}}`
            inputs = [_merge(ex, node, node_loc, inputs, scope, level, None if nested else name)]
        inner = scope.child(level)
        auto = str if nested else (lambda i, name=name: f"{name}_{i}")
        values[name] = ex.items(body, inputs[0], inner, auto, inputs if len(inputs) > 1 else None)
    output = args.get("output", nodes[-1]["name"])
    if output not in values:
        raise SpecError(f"dag output '{output}' is not a node", location_of(args, "output"),
                        did_you_mean(output, values))
    return values[output]


def _merge(ex, node, loc, inputs, scope, level, default):
    """The node's merge layer, named by its own `name`, else `default` (a handle-only node's
    name), else its op."""
    from .expand import split_item

    key, margs = split_item(node["merge"], location_of(node, "merge") or loc)
    own = margs.get("name")
    if own is not None:
        own = format_name(own, ex.env_for(scope, inputs[0]), location_of(margs, "name"))
    layer = own or default or key
    return ex.op(key, margs, inputs[0], scope, f"{level}.{layer}" if level else layer, loc, inputs)


def _calls_block(ex, body) -> bool:
    """Whether a dag node's body starts with a block call (which takes the node's inputs)."""
    first = body[0] if body else None
    if isinstance(first, dict):
        first = next(iter(first), None)
    return isinstance(first, str) and first in ex.doc.blocks


HANDLERS = {"seq": seq, "residual": residual, "parallel": parallel, "highway": highway,
            "repeat": repeat, "stages": stages, "dag": dag}
