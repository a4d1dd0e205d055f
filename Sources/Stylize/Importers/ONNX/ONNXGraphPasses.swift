/// Local rewrites of an imported graph that make it cheaper to run without changing what it computes.
///
/// Exporters spell one layer as several nodes (PyTorch: an explicit reflection `Pad` before a convolution
/// without padding; Core ML converters: a transposed convolution followed by a `Crop`; affine maps split in
/// three). Folding them here means the runtime allocates fewer intermediate frames.
enum ONNXGraphPasses {
    static func simplify(_ graph: Graph) -> Graph {
        var g = graph
        // Every successful rewrite removes one node, so this terminates after at most `nodes.count` rounds.
        for _ in 0...g.nodes.count {
            let changed = fusePadIntoConv(&g) || fuseCropIntoConvTranspose(&g) || mergeAffines(&g) || removeIdentities(&g)
            if !changed { break }
        }
        removeDeadNodes(&g)
        return g
    }

    /// How many times each value is read (the graph output counts as a read).
    static func useCounts(_ g: Graph) -> [String: Int] {
        var uses: [String: Int] = [g.output: 1]
        for n in g.nodes { for i in n.inputs { uses[i, default: 0] += 1 } }
        return uses
    }

    /// Pad (zero, reflect or edge) feeding only a convolution becomes the convolution's own padding.
    static func fusePadIntoConv(_ g: inout Graph) -> Bool {
        let uses = useCounts(g)
        for (i, padNode) in g.nodes.enumerated() {
            guard case .pad(let p, let mode) = padNode.op, uses[padNode.output] == 1,
                  let j = g.nodes.firstIndex(where: { $0.inputs.first == padNode.output }),
                  case .conv2d(var spec) = g.nodes[j].op, case .explicit(let q) = spec.padding else { continue }
            if mode == .zero && spec.padMode == .zero {
                spec.padding = .explicit(Pads(top: p.top + q.top, left: p.left + q.left, bottom: p.bottom + q.bottom, right: p.right + q.right))
            } else if q.isZero {
                spec.padding = .explicit(p)
                spec.padMode = mode
            } else {
                continue
            }
            g.nodes[j].op = .conv2d(spec)
            g.nodes[j].inputs[0] = padNode.inputs[0]
            g.nodes.remove(at: i)
            return true
        }
        return false
    }

    /// A crop of a transposed convolution's output is more padding removed from its full output.
    static func fuseCropIntoConvTranspose(_ g: inout Graph) -> Bool {
        let uses = useCounts(g)
        for (j, cropNode) in g.nodes.enumerated() {
            guard case .crop(let k) = cropNode.op, let source = cropNode.inputs.first, uses[source] == 1,
                  let i = g.nodes.firstIndex(where: { $0.output == source }),
                  case .convTranspose2d(var spec) = g.nodes[i].op, case .explicit(let t) = spec.padding else { continue }
            spec.padding = .explicit(Pads(top: t.top + k.top, left: t.left + k.left, bottom: t.bottom + k.bottom, right: t.right + k.right))
            g.nodes[i].op = .convTranspose2d(spec)
            g.nodes[i].output = cropNode.output
            g.nodes.remove(at: j)
            return true
        }
        return false
    }

    /// (scale, shift) of an affine node; arrays of one value for a scalar map.
    static func affineParameters(_ op: Op) -> (scale: [Float], shift: [Float])? {
        switch op {
        case .scalarAffine(let alpha, let beta): return ([alpha], [beta])
        case .channelAffine(let spec): return (spec.scale ?? [1], spec.shift ?? [0])
        default: return nil
        }
    }

    static func affineOp(scale: [Float], shift: [Float]) -> Op {
        if scale.count == 1 && shift.count == 1 { return .scalarAffine(alpha: scale[0], beta: shift[0]) }
        return .channelAffine(ChannelAffineSpec(scale: scale.allSatisfy { $0 == 1 } ? nil : scale,
                                                shift: shift.allSatisfy { $0 == 0 } ? nil : shift))
    }

    /// Two affine maps in a row are one: s2·(s1·x + b1) + b2.
    static func mergeAffines(_ g: inout Graph) -> Bool {
        let uses = useCounts(g)
        for (j, second) in g.nodes.enumerated() {
            guard let (s2, b2) = affineParameters(second.op), let source = second.inputs.first, uses[source] == 1,
                  let i = g.nodes.firstIndex(where: { $0.output == source }),
                  let (s1, b1) = affineParameters(g.nodes[i].op) else { continue }
            let n = [s1.count, b1.count, s2.count, b2.count].max()!
            guard [s1, b1, s2, b2].allSatisfy({ $0.count == 1 || $0.count == n }) else { continue }
            func at(_ v: [Float], _ c: Int) -> Float { v.count == 1 ? v[0] : v[c] }
            let scale = (0..<n).map { at(s2, $0) * at(s1, $0) }
            let shift = (0..<n).map { at(s2, $0) * at(b1, $0) + at(b2, $0) }
            g.nodes[j].op = affineOp(scale: scale, shift: shift)
            g.nodes[j].inputs = g.nodes[i].inputs
            g.nodes.remove(at: i)
            return true
        }
        return false
    }

    static func isIdentity(_ op: Op) -> Bool {
        switch op {
        case .crop(let p), .pad(let p, _): return p.isZero
        case .upsampleNearest(let f): return f == 1
        default:
            guard let (s, b) = affineParameters(op) else { return false }
            return s.allSatisfy { $0 == 1 } && b.allSatisfy { $0 == 0 }
        }
    }

    /// Nodes that change nothing are bypassed (kept only if the graph would otherwise map input to output).
    static func removeIdentities(_ g: inout Graph) -> Bool {
        for (i, n) in g.nodes.enumerated() where isIdentity(n.op) {
            guard let source = n.inputs.first else { continue }
            if n.output == g.output {
                if source == g.input { continue }
                g.output = source
            }
            for k in g.nodes.indices {
                g.nodes[k].inputs = g.nodes[k].inputs.map { $0 == n.output ? source : $0 }
            }
            g.nodes.remove(at: i)
            return true
        }
        return false
    }

    /// Drops nodes whose results never reach the output (e.g. computed only for a `Shape`).
    static func removeDeadNodes(_ g: inout Graph) {
        var live: Set<String> = [g.output]
        var kept: [Node] = []
        for n in g.nodes.reversed() where live.contains(n.output) {
            live.formUnion(n.inputs)
            kept.append(n)
        }
        g.nodes = kept.reversed()
    }
}
