import Foundation

/// Compile-time values of an ONNX graph: initializers, `Constant` nodes and everything computed only from
/// them (PyTorch exports compute pad amounts and reshape targets this way).

/// One dimension of an activation, named so that shape arithmetic can stay independent of the frame size.
struct DimRef: Hashable, Sendable {
    /// Name of the activation in the model graph being built.
    var value: String
    var axis: Int
}

/// An integer that is either known (`dim == nil`, value `offset`) or `coefficient·dim + offset` for a
/// dimension of an activation.
///
/// `Shape` of an activation yields these. Keeping them symbolic lets the importer turn, say, "slice the
/// transposed convolution's output to twice its input height" into a fixed crop that is right at every frame
/// size, instead of baking in the size the model was exported at.
struct SymInt: Equatable, Sendable {
    var coefficient: Int
    var dim: DimRef?
    var offset: Int

    static func constant(_ value: Int) -> SymInt { SymInt(coefficient: 0, dim: nil, offset: value) }

    var constant: Int? { dim == nil ? offset : nil }

    var description: String {
        guard let dim else { return "\(offset)" }
        return "\(coefficient)·dim\(dim.axis)(\(dim.value))\(offset >= 0 ? "+" : "")\(offset)"
    }
}

/// Why a constant expression could not be evaluated. `unsupported` means the ONNX is valid but needs
/// something this importer does not do; otherwise the graph itself is inconsistent.
struct FoldError: Error {
    var detail: String
    var unsupported: Bool

    static func unsupported(_ detail: String) -> FoldError { FoldError(detail: detail, unsupported: true) }
    static func invalid(_ detail: String) -> FoldError { FoldError(detail: detail, unsupported: false) }
}

/// A constant tensor. Floating-point types are held as Float, every integer and boolean type as `SymInt`.
struct ConstTensor {
    enum Storage {
        case float([Float])
        case int([SymInt])
    }

    /// Folded tensors larger than this are refused: the style networks never need them, and a hostile file
    /// could otherwise ask for gigabytes through `ConstantOfShape` or `Expand`.
    static let maxElements = 1 << 26

    var shape: [Int]
    var storage: Storage
    /// Name of the initializer this value is, unchanged, so the weights keep their ONNX names.
    var origin: String?

    init(shape: [Int], storage: Storage, origin: String? = nil) {
        self.shape = shape
        self.storage = storage
        self.origin = origin
    }

    init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .float(floats)) }
    init(shape: [Int], ints: [Int]) { self.init(shape: shape, storage: .int(ints.map(SymInt.constant))) }

    var count: Int {
        switch storage {
        case .float(let v): v.count
        case .int(let v): v.count
        }
    }

    var isFloat: Bool { if case .float = storage { true } else { false } }

    /// The values as Float; integer tensors convert only when none of their values is symbolic.
    func floatValues() throws -> [Float] {
        switch storage {
        case .float(let v): return v
        case .int(let v):
            return try v.map { s in
                guard let c = s.constant else {
                    throw FoldError.unsupported("value \(s.description) depends on the frame size")
                }
                return Float(c)
            }
        }
    }

    func symInts() throws -> [SymInt] {
        guard case .int(let v) = storage else {
            throw FoldError.invalid("expected an integer tensor, got a floating-point one")
        }
        return v
    }

    /// Integer values that must be known exactly (shapes, axes, pad amounts).
    func ints() throws -> [Int] {
        try symInts().map { s in
            guard let c = s.constant else {
                throw FoldError.unsupported("value \(s.description) depends on the frame size")
            }
            return c
        }
    }

    func withoutOrigin() -> ConstTensor { ConstTensor(shape: shape, storage: storage) }

    func reshaped(_ newShape: [Int]) -> ConstTensor {
        ConstTensor(shape: newShape, storage: storage, origin: nil)
    }

    /// Elements picked by flat index (the workhorse of transpose, slice, gather and broadcasting).
    func gathered(_ indices: [Int], shape newShape: [Int]) -> ConstTensor {
        switch storage {
        case .float(let v): ConstTensor(shape: newShape, storage: .float(indices.map { v[$0] }))
        case .int(let v): ConstTensor(shape: newShape, storage: .int(indices.map { v[$0] }))
        }
    }
}

// MARK: - Checked integer arithmetic

/// Integer arithmetic on file-supplied numbers, throwing on overflow instead of trapping.
enum CheckedMath {
    static func add(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw FoldError.invalid("integer overflow in \(a) + \(b)") }
        return r
    }

    static func mul(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw FoldError.invalid("integer overflow in \(a) × \(b)") }
        return r
    }

    static func neg(_ a: Int) throws -> Int {
        guard a != Int.min else { throw FoldError.invalid("integer overflow negating \(a)") }
        return -a
    }

    /// Product of a shape's dimensions, refusing negative dimensions and overflow. The product of the
    /// non-zero dimensions must fit too, so that loops over any subset of the axes of an empty tensor
    /// stay bounded and no partial product can overflow.
    static func elementCount(_ shape: [Int]) throws -> Int {
        var nonZero = 1
        var hasZero = false
        for d in shape {
            guard d >= 0 else { throw FoldError.invalid("negative dimension \(d) in shape \(shape)") }
            if d == 0 { hasZero = true } else { nonZero = try mul(nonZero, d) }
        }
        return hasZero ? 0 : nonZero
    }

    static func checkedCount(_ shape: [Int]) throws -> Int {
        let n = try elementCount(shape)
        let nonZero = try elementCount(shape.map { Swift.max($0, 1) })
        guard nonZero <= ConstTensor.maxElements else {
            throw FoldError.unsupported("constant of shape \(shape) is larger than \(ConstTensor.maxElements) elements")
        }
        return n
    }
}

extension SymInt {
    static func + (a: SymInt, b: SymInt) throws -> SymInt {
        if a.dim == nil { return SymInt(coefficient: b.coefficient, dim: b.dim, offset: try CheckedMath.add(a.offset, b.offset)) }
        if b.dim == nil { return SymInt(coefficient: a.coefficient, dim: a.dim, offset: try CheckedMath.add(a.offset, b.offset)) }
        guard a.dim == b.dim else {
            throw FoldError.unsupported("sum of two different activation dimensions (\(a.description), \(b.description))")
        }
        let c = try CheckedMath.add(a.coefficient, b.coefficient)
        let o = try CheckedMath.add(a.offset, b.offset)
        return c == 0 ? .constant(o) : SymInt(coefficient: c, dim: a.dim, offset: o)
    }

    func negated() throws -> SymInt {
        SymInt(coefficient: try CheckedMath.neg(coefficient), dim: dim, offset: try CheckedMath.neg(offset))
    }

    static func * (a: SymInt, b: SymInt) throws -> SymInt {
        if let k = b.constant { return try a.scaled(k) }
        if let k = a.constant { return try b.scaled(k) }
        throw FoldError.unsupported("product of two activation dimensions (\(a.description) × \(b.description))")
    }

    func scaled(_ k: Int) throws -> SymInt {
        if dim == nil || k == 0 { return .constant(try CheckedMath.mul(offset, k)) }
        return SymInt(coefficient: try CheckedMath.mul(coefficient, k), dim: dim, offset: try CheckedMath.mul(offset, k))
    }

    /// ONNX integer Div truncates toward zero; a symbolic value divides only when the result stays exact.
    static func / (a: SymInt, b: SymInt) throws -> SymInt {
        guard let k = b.constant else {
            throw FoldError.unsupported("division by an activation dimension (\(b.description))")
        }
        guard k != 0 else { throw FoldError.invalid("integer division by zero") }
        guard !(k == -1 && a.offset == Int.min) else { throw FoldError.invalid("integer overflow in division") }
        guard a.dim != nil else { return .constant(a.offset / k) }
        guard a.coefficient % k == 0, a.offset % k == 0 else {
            throw FoldError.unsupported("\(a.description) / \(k) is not exact at every frame size")
        }
        return SymInt(coefficient: a.coefficient / k, dim: a.dim, offset: a.offset / k)
    }
}

// MARK: - Decoding TensorProto

enum TensorDecoding {
    /// Reads an initializer or attribute tensor. `ProtobufError` means corrupt bytes; `FoldError` an element
    /// type or storage the importer does not handle.
    static func decode(_ t: ONNXTensorProto) throws -> ConstTensor {
        guard t.dataLocation != 1, !t.hasExternalData else {
            throw FoldError.unsupported("tensor '\(t.name)' keeps its data in an external file, which is not supported")
        }
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(Int32.max) else {
                throw ProtobufError(cause: "tensor '\(t.name)' has invalid dimension \(d)")
            }
            shape.append(Int(d))
        }
        guard shape.count <= 16 else { throw ProtobufError(cause: "tensor '\(t.name)' has rank \(shape.count)") }
        let count: Int
        do { count = try CheckedMath.elementCount(shape) } catch {
            throw ProtobufError(cause: "tensor '\(t.name)' has an overflowing shape \(shape)")
        }

        func raw(_ size: Int) throws -> ArraySlice<UInt8>? {
            guard let raw = t.rawData else { return nil }
            let (expected, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, raw.count == expected else {
                throw ProtobufError(cause: "tensor '\(t.name)' of shape \(shape) has \(raw.count) bytes of raw data, expected \(count) values of \(size) bytes")
            }
            return raw
        }
        func checkCount(_ n: Int, _ field: String) throws {
            guard n == count else {
                throw ProtobufError(cause: "tensor '\(t.name)' of shape \(shape) has \(n) values in \(field), expected \(count)")
            }
        }
        func littleEndian(_ raw: ArraySlice<UInt8>, _ size: Int) -> [UInt64] {
            var out = [UInt64](repeating: 0, count: count)
            var p = raw.startIndex
            for i in 0..<count {
                var v: UInt64 = 0
                for k in 0..<size { v |= UInt64(raw[p + k]) << (8 * UInt64(k)) }
                out[i] = v
                p += size
            }
            return out
        }
        func signExtend(_ v: UInt64, _ size: Int) -> Int {
            let bits = size * 8
            if bits == 64 { return Int(Int64(bitPattern: v)) }
            let shift = UInt64(64 - bits)
            return Int(Int64(bitPattern: v << shift) >> Int64(shift))
        }

        let origin = t.name.isEmpty ? nil : t.name
        switch t.dataType {
        case 1: // FLOAT
            if let raw = try raw(4) {
                let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    var p = raw.startIndex
                    for i in 0..<count {
                        let bits = UInt32(raw[p]) | UInt32(raw[p + 1]) << 8 | UInt32(raw[p + 2]) << 16 | UInt32(raw[p + 3]) << 24
                        buffer[i] = Float(bitPattern: bits)
                        p += 4
                    }
                    initialized = count
                }
                return ConstTensor(shape: shape, storage: .float(floats), origin: origin)
            }
            try checkCount(t.floatData.count, "float_data")
            return ConstTensor(shape: shape, storage: .float(t.floatData.map(Float.init(bitPattern:))), origin: origin)
        case 11: // DOUBLE
            let bits: [UInt64]
            if let raw = try raw(8) { bits = littleEndian(raw, 8) } else {
                try checkCount(t.doubleData.count, "double_data"); bits = t.doubleData
            }
            return ConstTensor(shape: shape, storage: .float(bits.map { Float(Double(bitPattern: $0)) }), origin: origin)
        case 10, 16: // FLOAT16, BFLOAT16: raw 2-byte values, or the bit patterns in int32_data
            let bits: [UInt64]
            if let raw = try raw(2) { bits = littleEndian(raw, 2) } else {
                try checkCount(t.int32Data.count, "int32_data"); bits = t.int32Data.map { UInt64(truncatingIfNeeded: $0) & 0xffff }
            }
            let floats = bits.map { t.dataType == 10 ? halfToFloat(UInt16(truncatingIfNeeded: $0)) : Float(bitPattern: UInt32(truncatingIfNeeded: $0) << 16) }
            return ConstTensor(shape: shape, storage: .float(floats), origin: origin)
        case 7: // INT64
            let values: [Int]
            if let raw = try raw(8) { values = littleEndian(raw, 8).map { signExtend($0, 8) } } else {
                try checkCount(t.int64Data.count, "int64_data"); values = t.int64Data.map { Int($0) }
            }
            return ConstTensor(shape: shape, storage: .int(values.map(SymInt.constant)), origin: origin)
        case 2, 3, 4, 5, 6, 9: // UINT8, INT8, UINT16, INT16, INT32, BOOL
            let size = [2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 9: 1][Int(t.dataType)]!
            let signed = t.dataType == 3 || t.dataType == 5 || t.dataType == 6
            let values: [Int]
            if let raw = try raw(size) {
                values = littleEndian(raw, size).map { signed ? signExtend($0, size) : Int($0) }
            } else {
                try checkCount(t.int32Data.count, "int32_data")
                values = t.int32Data.map { Int(Int32(truncatingIfNeeded: $0)) }
            }
            return ConstTensor(shape: shape, storage: .int(values.map(SymInt.constant)), origin: origin)
        case 12, 13: // UINT32, UINT64
            let size = t.dataType == 12 ? 4 : 8
            let values: [UInt64]
            if let raw = try raw(size) { values = littleEndian(raw, size) } else {
                try checkCount(t.uint64Data.count, "uint64_data"); values = t.uint64Data.map { UInt64(bitPattern: $0) }
            }
            return ConstTensor(shape: shape, storage: .int(values.map { .constant(Int(truncatingIfNeeded: $0)) }), origin: origin)
        default:
            throw FoldError.unsupported("tensor '\(t.name)' has element type \(t.dataType), which is not supported")
        }
    }

    /// IEEE 754 half precision to single, written out because `Float16` is missing on Intel macOS.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = UInt32((h >> 10) & 0x1f)
        var mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            var e: UInt32 = 127 - 15 + 1
            while mantissa & 0x400 == 0 { mantissa <<= 1; e -= 1 }
            return Float(bitPattern: sign | (e << 23) | ((mantissa & 0x3ff) << 13))
        }
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
    }
}

// MARK: - Shape helpers

enum ShapeMath {
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            s[d] = acc
            acc *= shape[d]
        }
        return s
    }

    /// Normalises a possibly negative axis against `rank`.
    static func axis(_ a: Int, rank: Int) throws -> Int {
        let n = a < 0 ? a + rank : a
        guard n >= 0, n < rank else { throw FoldError.invalid("axis \(a) out of range for rank \(rank)") }
        return n
    }

    /// NumPy broadcasting of several shapes; for each input, the flat source index of every output element.
    static func broadcast(_ shapes: [[Int]]) throws -> (shape: [Int], maps: [[Int]]) {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            for (k, d) in s.enumerated() {
                let o = rank - s.count + k
                if out[o] == 1 { out[o] = d } else if d != 1 && d != out[o] {
                    throw FoldError.invalid("shapes \(shapes.map { "\($0)" }.joined(separator: " and ")) do not broadcast")
                }
            }
        }
        let count = try CheckedMath.checkedCount(out)
        let outStrides = strides(out)
        var maps: [[Int]] = []
        for s in shapes {
            let inStrides = strides(s)
            // The stride of each output axis in this input: 0 where the input is broadcast.
            var eff = [Int](repeating: 0, count: rank)
            for (k, d) in s.enumerated() where d != 1 { eff[rank - s.count + k] = inStrides[k] }
            var map = [Int](repeating: 0, count: count)
            for f in 0..<count {
                var src = 0
                for a in 0..<rank where eff[a] != 0 { src += ((f / outStrides[a]) % out[a]) * eff[a] }
                map[f] = src
            }
            maps.append(map)
        }
        return (out, maps)
    }
}

// MARK: - Evaluation

/// Evaluates ONNX operators on constant inputs. Only what exporters use for shape and padding arithmetic
/// and for parameter preprocessing; anything else is reported as unsupported by the caller.
enum ConstantFolder {
    static let foldable: Set<String> = [
        "Constant", "ConstantOfShape", "Identity", "Cast", "CastLike", "Reshape", "Flatten", "Transpose",
        "Unsqueeze", "Squeeze", "Concat", "Slice", "Gather", "Shape", "Size", "Expand", "Range", "Where",
        "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Less", "Greater", "Not",
        "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Relu", "Sigmoid", "Tanh",
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "DequantizeLinear",
    ]

    /// An int8/uint8/int32 weight made float exactly as ONNX defines it, `(x - zeroPoint) · scale` in float32,
    /// with one scale (and zero point) for the tensor or one per slice along `axis`. This is how int8 "QDQ"
    /// files (tf2onnx, onnxruntime's quantiser) store weights; streamd folds them once at import and computes
    /// in float32.
    static func dequantize(_ x: ConstTensor, scale: ConstTensor, zeroPoint: ConstTensor?, axis: Int) throws -> ConstTensor {
        guard !x.isFloat else { throw FoldError.invalid("DequantizeLinear of a floating-point tensor") }
        let q = try x.ints()
        let scales = try scale.floatValues()
        let zeros = try zeroPoint.map { try $0.ints() } ?? Array(repeating: 0, count: scales.count)
        guard zeros.count == scales.count, !scales.isEmpty else {
            throw FoldError.invalid("DequantizeLinear has \(scales.count) scales and \(zeros.count) zero points")
        }
        var out = [Float](repeating: 0, count: q.count)
        if scales.count == 1 {
            for i in q.indices { out[i] = Float(q[i] - zeros[0]) * scales[0] }
        } else {
            let a = axis < 0 ? axis + x.shape.count : axis
            guard a >= 0, a < x.shape.count, x.shape[a] == scales.count else {
                throw FoldError.invalid("DequantizeLinear: \(scales.count) scales along axis \(axis) of a \(x.shape) tensor")
            }
            let inner = x.shape[(a + 1)...].reduce(1, *)
            for i in q.indices {
                let k = (i / inner) % scales.count
                out[i] = Float(q[i] - zeros[k]) * scales[k]
            }
        }
        return ConstTensor(shape: x.shape, floats: out)
    }

    /// `inputs[i]` is nil for an omitted optional input. Returns one tensor per node output.
    static func evaluate(_ node: ONNXNodeProto, _ inputs: [ConstTensor?]) throws -> [ConstTensor] {
        func input(_ i: Int) throws -> ConstTensor {
            guard i < inputs.count, let t = inputs[i] else { throw FoldError.invalid("missing input \(i)") }
            return t
        }
        func optionalInput(_ i: Int) -> ConstTensor? { i < inputs.count ? inputs[i] : nil }
        func intAttr(_ name: String, _ fallback: Int) throws -> Int {
            guard let a = node.attribute(name) else { return fallback }
            guard let i = a.i else { throw FoldError.invalid("attribute '\(name)' is not an integer") }
            return Int(clamping: i)
        }
        /// Axes from the input (newer opsets) or the attribute (older ones).
        func axes(inputIndex: Int) throws -> [Int]? {
            if let t = optionalInput(inputIndex) { return try t.ints() }
            if let a = node.attribute("axes") { return a.ints.map { Int(clamping: $0) } }
            return nil
        }

        switch node.opType {
        case "Constant":
            return [try constantAttribute(node)]
        case "Identity":
            return [try input(0)]
        case "DequantizeLinear":
            return [try dequantize(try input(0), scale: try input(1), zeroPoint: optionalInput(2), axis: try intAttr("axis", 1))]
        case "ConstantOfShape":
            let shape = try input(0).ints()
            let count = try CheckedMath.checkedCount(shape)
            if let a = node.attribute("value"), let t = a.t {
                let v = try TensorDecoding.decode(t)
                guard v.count == 1 else { throw FoldError.invalid("ConstantOfShape value must have one element") }
                switch v.storage {
                case .float(let f): return [ConstTensor(shape: shape, storage: .float(Array(repeating: f[0], count: count)))]
                case .int(let i): return [ConstTensor(shape: shape, storage: .int(Array(repeating: i[0], count: count)))]
                }
            }
            return [ConstTensor(shape: shape, storage: .float(Array(repeating: 0, count: count)))]
        case "Cast":
            return [try cast(try input(0), to: try intAttr("to", 1))]
        case "CastLike":
            let target = try input(1)
            return [try cast(try input(0), to: target.isFloat ? 1 : 7)]
        case "Reshape":
            return [try reshape(try input(0), try input(1).ints(), allowZero: try intAttr("allowzero", 0) != 0)]
        case "Flatten":
            let x = try input(0)
            let axis = try ShapeMath.axis(try intAttr("axis", 1), rank: x.shape.count + 1)
            let outer = try CheckedMath.elementCount(Array(x.shape[..<axis]))
            return [x.reshaped([outer, x.count / max(outer, 1)])]
        case "Transpose":
            let x = try input(0)
            let perm = node.attribute("perm")?.ints.map { Int(clamping: $0) } ?? Array((0..<x.shape.count).reversed())
            return [try transpose(x, perm)]
        case "Unsqueeze":
            let x = try input(0)
            guard let ax = try axes(inputIndex: 1) else { throw FoldError.invalid("Unsqueeze without axes") }
            return [x.reshaped(try unsqueezedShape(x.shape, ax))]
        case "Squeeze":
            let x = try input(0)
            return [x.reshaped(try squeezedShape(x.shape, try axes(inputIndex: 1)))]
        case "Concat":
            let parts = inputs.compactMap { $0 }
            guard let first = parts.first else { throw FoldError.invalid("Concat without inputs") }
            let axis = try ShapeMath.axis(try intAttr("axis", 0), rank: first.shape.count)
            return [try concat(parts, axis: axis)]
        case "Slice":
            let x = try input(0)
            if inputs.count >= 3 {
                let steps = try optionalInput(4)?.ints()
                return [try slice(x, starts: try input(1).ints(), ends: try input(2).ints(),
                                  axes: try optionalInput(3)?.ints(), steps: steps)]
            }
            guard let s = node.attribute("starts")?.ints, let e = node.attribute("ends")?.ints else {
                throw FoldError.invalid("Slice without starts/ends")
            }
            return [try slice(x, starts: s.map { Int(clamping: $0) }, ends: e.map { Int(clamping: $0) },
                              axes: node.attribute("axes")?.ints.map { Int(clamping: $0) }, steps: nil)]
        case "Gather":
            return [try gather(try input(0), try input(1), axis: try intAttr("axis", 0))]
        case "Shape":
            let x = try input(0)
            let (lo, hi) = try shapeRange(rank: x.shape.count, node: node)
            return [ConstTensor(shape: [hi - lo], ints: Array(x.shape[lo..<hi]))]
        case "Size":
            return [ConstTensor(shape: [], ints: [try input(0).count])]
        case "Expand":
            let x = try input(0)
            let target = try input(1).ints()
            let (shape, maps) = try ShapeMath.broadcast([x.shape, target])
            return [x.gathered(maps[0], shape: shape)]
        case "Range":
            return [try range(try input(0), try input(1), try input(2))]
        case "Where":
            let c = try input(0), a = try input(1), b = try input(2)
            let cond = try c.ints()
            let (shape, maps) = try ShapeMath.broadcast([c.shape, a.shape, b.shape])
            switch (a.storage, b.storage) {
            case (.float(let av), .float(let bv)):
                return [ConstTensor(shape: shape, storage: .float((0..<maps[0].count).map { cond[maps[0][$0]] != 0 ? av[maps[1][$0]] : bv[maps[2][$0]] }))]
            case (.int(let av), .int(let bv)):
                return [ConstTensor(shape: shape, storage: .int((0..<maps[0].count).map { cond[maps[0][$0]] != 0 ? av[maps[1][$0]] : bv[maps[2][$0]] }))]
            default: throw FoldError.invalid("Where branches have different element types")
            }
        case "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Less", "Greater":
            return [try binary(node.opType, try input(0), try input(1))]
        case "Not":
            return [ConstTensor(shape: try input(0).shape, ints: try input(0).ints().map { $0 == 0 ? 1 : 0 })]
        case "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Relu", "Sigmoid", "Tanh":
            return [try unary(node.opType, try input(0))]
        case "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd":
            let x = try input(0)
            // ReduceSum takes its axes as an input from opset 13, the other reductions from opset 18.
            let ax = try axes(inputIndex: 1)
            let noop = try intAttr("noop_with_empty_axes", 0) != 0
            if (ax ?? []).isEmpty && noop { return [x] }
            return [try reduce(node.opType, x, axes: ax ?? [], keepDims: try intAttr("keepdims", 1) != 0)]
        default:
            throw FoldError.unsupported("cannot evaluate '\(node.opType)' on constants")
        }
    }

    static func constantAttribute(_ node: ONNXNodeProto) throws -> ConstTensor {
        if let t = node.attribute("value")?.t {
            return try TensorDecoding.decode(t).withoutOrigin()
        }
        if let f = node.attribute("value_float")?.f { return ConstTensor(shape: [], floats: [f]) }
        if let a = node.attribute("value_floats") { return ConstTensor(shape: [a.floats.count], floats: a.floats) }
        if let i = node.attribute("value_int")?.i { return ConstTensor(shape: [], ints: [Int(clamping: i)]) }
        if let a = node.attribute("value_ints") {
            return ConstTensor(shape: [a.ints.count], ints: a.ints.map { Int(clamping: $0) })
        }
        throw FoldError.unsupported("Constant without a numeric value attribute")
    }

    /// `to` is a TensorProto.DataType: floating types become Float, integer and boolean ones integers.
    static func cast(_ x: ConstTensor, to type: Int) throws -> ConstTensor {
        switch type {
        case 1, 10, 11, 16:
            return ConstTensor(shape: x.shape, storage: .float(try x.floatValues()))
        case 9:
            switch x.storage {
            case .float(let v): return ConstTensor(shape: x.shape, ints: v.map { $0 != 0 ? 1 : 0 })
            case .int: return ConstTensor(shape: x.shape, ints: try x.ints().map { $0 != 0 ? 1 : 0 })
            }
        case 2, 3, 4, 5, 6, 7, 12, 13:
            switch x.storage {
            case .int: return x.withoutOrigin()
            case .float(let v):
                return ConstTensor(shape: x.shape, ints: try v.map { f in
                    guard f.isFinite, abs(f) < 9.2e18 else { throw FoldError.invalid("cannot cast \(f) to an integer") }
                    return Int(f.rounded(.towardZero))
                })
            }
        default:
            throw FoldError.unsupported("Cast to element type \(type)")
        }
    }

    static func reshape(_ x: ConstTensor, _ target: [Int], allowZero: Bool) throws -> ConstTensor {
        var shape = target
        var inferred: Int?
        for (k, d) in target.enumerated() {
            if d == 0 && !allowZero {
                guard k < x.shape.count else { throw FoldError.invalid("Reshape copies dimension \(k) of a rank-\(x.shape.count) tensor") }
                shape[k] = x.shape[k]
            } else if d == -1 {
                guard inferred == nil else { throw FoldError.invalid("Reshape target \(target) has two -1") }
                inferred = k
            } else if d < 0 {
                throw FoldError.invalid("Reshape target \(target) has a negative dimension")
            }
        }
        if let k = inferred {
            var rest = 1
            for (j, d) in shape.enumerated() where j != k { rest = try CheckedMath.mul(rest, d) }
            guard rest > 0, x.count % rest == 0 else {
                throw FoldError.invalid("cannot reshape \(x.shape) to \(target)")
            }
            shape[k] = x.count / rest
        }
        guard try CheckedMath.elementCount(shape) == x.count else {
            throw FoldError.invalid("cannot reshape \(x.shape) (\(x.count) elements) to \(target)")
        }
        return x.reshaped(shape)
    }

    static func transpose(_ x: ConstTensor, _ perm: [Int]) throws -> ConstTensor {
        let rank = x.shape.count
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw FoldError.invalid("Transpose perm \(perm) does not fit rank \(rank)")
        }
        let outShape = perm.map { x.shape[$0] }
        let inStrides = ShapeMath.strides(x.shape)
        let outStrides = ShapeMath.strides(outShape)
        let indices = (0..<x.count).map { f in
            var src = 0
            for a in 0..<rank { src += ((f / outStrides[a]) % outShape[a]) * inStrides[perm[a]] }
            return src
        }
        return x.gathered(indices, shape: outShape)
    }

    static func unsqueezedShape(_ shape: [Int], _ axes: [Int]) throws -> [Int] {
        let rank = shape.count + axes.count
        let normalized = try Set(axes.map { try ShapeMath.axis($0, rank: rank) })
        guard normalized.count == axes.count else { throw FoldError.invalid("Unsqueeze axes \(axes) repeat") }
        var out: [Int] = []
        var source = shape.makeIterator()
        for k in 0..<rank { out.append(normalized.contains(k) ? 1 : source.next()!) }
        return out
    }

    static func squeezedShape(_ shape: [Int], _ axes: [Int]?) throws -> [Int] {
        guard let axes, !axes.isEmpty else { return shape.filter { $0 != 1 } }
        let normalized = try Set(axes.map { try ShapeMath.axis($0, rank: shape.count) })
        for a in normalized where shape[a] != 1 {
            throw FoldError.invalid("Squeeze axis \(a) has size \(shape[a])")
        }
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    static func concat(_ parts: [ConstTensor], axis: Int) throws -> ConstTensor {
        let rank = parts[0].shape.count
        var outShape = parts[0].shape
        outShape[axis] = 0
        for p in parts {
            guard p.shape.count == rank else { throw FoldError.invalid("Concat of ranks \(parts.map(\.shape.count))") }
            for a in 0..<rank where a != axis && p.shape[a] != parts[0].shape[a] {
                throw FoldError.invalid("Concat of mismatched shapes \(parts.map(\.shape))")
            }
            outShape[axis] += p.shape[axis]
        }
        let allFloat = parts.allSatisfy(\.isFloat)
        guard allFloat || parts.allSatisfy({ !$0.isFloat }) else {
            throw FoldError.invalid("Concat of floating-point and integer tensors")
        }
        guard try CheckedMath.checkedCount(outShape) > 0 else {
            return ConstTensor(shape: outShape, storage: allFloat ? .float([]) : .int([]))
        }
        let outer = parts[0].shape[..<axis].reduce(1, *)
        var floats: [Float] = [], ints: [SymInt] = []
        for o in 0..<outer {
            for p in parts {
                let block = p.shape[axis...].reduce(1, *)
                switch p.storage {
                case .float(let v): floats.append(contentsOf: v[(o * block)..<((o + 1) * block)])
                case .int(let v): ints.append(contentsOf: v[(o * block)..<((o + 1) * block)])
                }
            }
        }
        return ConstTensor(shape: outShape, storage: allFloat ? .float(floats) : .int(ints))
    }

    /// ONNX Slice clamping rules, per axis: returns (start, end, step, count).
    static func sliceBounds(start: Int, end: Int, step: Int, dim: Int) throws -> (start: Int, step: Int, count: Int) {
        guard step != 0 else { throw FoldError.invalid("Slice step 0") }
        var s = start < 0 ? start &+ dim : start
        var e = end < 0 ? end &+ dim : end
        if step > 0 {
            s = min(max(s, 0), dim)
            e = min(max(e, 0), dim)
            return (s, step, e > s ? (e - s - 1) / step + 1 : 0)
        }
        s = min(max(s, 0), dim - 1)
        e = min(max(e, -1), dim - 1)
        // Int.min cannot be negated; as a step magnitude Int.max picks the same single element.
        let magnitude = step == Int.min ? Int.max : -step
        return (s, step, s > e ? (s - e - 1) / magnitude + 1 : 0)
    }

    static func slice(_ x: ConstTensor, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> ConstTensor {
        let rank = x.shape.count
        let ax = try (axes ?? Array(0..<starts.count)).map { try ShapeMath.axis($0, rank: rank) }
        guard starts.count == ends.count, ax.count == starts.count, (steps?.count ?? starts.count) == starts.count else {
            throw FoldError.invalid("Slice starts/ends/axes/steps have different lengths")
        }
        var first = [Int](repeating: 0, count: rank)
        var step = [Int](repeating: 1, count: rank)
        var outShape = x.shape
        for (k, a) in ax.enumerated() {
            let b = try sliceBounds(start: starts[k], end: ends[k], step: steps?[k] ?? 1, dim: x.shape[a])
            first[a] = b.start; step[a] = b.step; outShape[a] = b.count
        }
        let inStrides = ShapeMath.strides(x.shape)
        let outStrides = ShapeMath.strides(outShape)
        let count = try CheckedMath.checkedCount(outShape)
        let indices = (0..<count).map { f in
            var src = 0
            for a in 0..<rank { src += (first[a] + ((f / outStrides[a]) % outShape[a]) * step[a]) * inStrides[a] }
            return src
        }
        return x.gathered(indices, shape: outShape)
    }

    static func gather(_ x: ConstTensor, _ idx: ConstTensor, axis rawAxis: Int) throws -> ConstTensor {
        let axis = try ShapeMath.axis(rawAxis, rank: x.shape.count)
        let dim = x.shape[axis]
        let picks = try idx.ints().map { i -> Int in
            let j = i < 0 ? i + dim : i
            guard j >= 0, j < dim else { throw FoldError.invalid("Gather index \(i) out of range for size \(dim)") }
            return j
        }
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        let outShape = Array(x.shape[..<axis]) + idx.shape + Array(x.shape[(axis + 1)...])
        guard try CheckedMath.checkedCount(outShape) > 0 else { return x.gathered([], shape: outShape) }
        var indices: [Int] = []
        for o in 0..<outer {
            for p in picks {
                for i in 0..<inner { indices.append((o * dim + p) * inner + i) }
            }
        }
        return x.gathered(indices, shape: outShape)
    }

    static func shapeRange(rank: Int, node: ONNXNodeProto) throws -> (Int, Int) {
        func clampAxis(_ v: Int64?) -> Int? {
            guard let v else { return nil }
            let a = Int(clamping: v)
            return min(max(a < 0 ? a + rank : a, 0), rank)
        }
        let lo = clampAxis(node.attribute("start")?.i) ?? 0
        let hi = clampAxis(node.attribute("end")?.i) ?? rank
        return (lo, max(lo, hi))
    }

    static func range(_ start: ConstTensor, _ limit: ConstTensor, _ delta: ConstTensor) throws -> ConstTensor {
        if start.isFloat {
            let s = try start.floatValues()[0], l = try limit.floatValues()[0], d = try delta.floatValues()[0]
            guard d != 0, d.isFinite else { throw FoldError.invalid("Range delta \(d)") }
            let n = try rangeCount((Double(l) - Double(s)) / Double(d))
            return ConstTensor(shape: [n], floats: (0..<n).map { s + Float($0) * d })
        }
        let s = try start.ints()[0], l = try limit.ints()[0], d = try delta.ints()[0]
        guard d != 0 else { throw FoldError.invalid("Range delta 0") }
        let n = try rangeCount((Double(l) - Double(s)) / Double(d))
        return ConstTensor(shape: [n], ints: try (0..<n).map { try CheckedMath.add(s, try CheckedMath.mul($0, d)) })
    }

    /// Element count of a Range, checked before it is converted to an integer.
    static func rangeCount(_ steps: Double) throws -> Int {
        guard !steps.isNaN else { throw FoldError.invalid("Range of NaN length") }
        let n = Swift.max(steps.rounded(.up), 0)
        guard n <= Double(ConstTensor.maxElements) else {
            throw FoldError.unsupported("Range of \(n) elements is larger than \(ConstTensor.maxElements)")
        }
        return Int(n)
    }

    static func binary(_ op: String, _ a: ConstTensor, _ b: ConstTensor) throws -> ConstTensor {
        let (shape, maps) = try ShapeMath.broadcast([a.shape, b.shape])
        let n = maps[0].count
        switch (a.storage, b.storage) {
        case (.float(let x), .float(let y)):
            func apply(_ f: (Float, Float) -> Float) -> ConstTensor {
                ConstTensor(shape: shape, floats: (0..<n).map { f(x[maps[0][$0]], y[maps[1][$0]]) })
            }
            func compare(_ f: (Float, Float) -> Bool) -> ConstTensor {
                ConstTensor(shape: shape, ints: (0..<n).map { f(x[maps[0][$0]], y[maps[1][$0]]) ? 1 : 0 })
            }
            switch op {
            case "Add": return apply(+)
            case "Sub": return apply(-)
            case "Mul": return apply(*)
            case "Div": return apply(/)
            case "Pow": return apply { Float(pow(Double($0), Double($1))) }
            case "Min": return apply { Swift.min($0, $1) }
            case "Max": return apply { Swift.max($0, $1) }
            case "Equal": return compare(==)
            case "Less": return compare(<)
            default: return compare(>)
            }
        case (.int(let x), .int(let y)):
            var out: [SymInt] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                let p = x[maps[0][i]], q = y[maps[1][i]]
                switch op {
                case "Add": out.append(try p + q)
                case "Sub": out.append(try p + (try q.negated()))
                case "Mul": out.append(try p * q)
                case "Div": out.append(try p / q)
                case "Pow":
                    guard let base = p.constant, let e = q.constant, e >= 0, e < 64 else {
                        throw FoldError.unsupported("integer Pow of \(p.description) and \(q.description)")
                    }
                    var r = 1
                    for _ in 0..<e { r = try CheckedMath.mul(r, base) }
                    out.append(.constant(r))
                default:
                    if p == q, op == "Equal" || op == "Min" || op == "Max" {
                        out.append(op == "Equal" ? .constant(1) : p)
                        continue
                    }
                    guard let u = p.constant, let v = q.constant else {
                        throw FoldError.unsupported("\(op) of \(p.description) and \(q.description) depends on the frame size")
                    }
                    switch op {
                    case "Min": out.append(.constant(Swift.min(u, v)))
                    case "Max": out.append(.constant(Swift.max(u, v)))
                    case "Equal": out.append(.constant(u == v ? 1 : 0))
                    case "Less": out.append(.constant(u < v ? 1 : 0))
                    default: out.append(.constant(u > v ? 1 : 0))
                    }
                }
            }
            return ConstTensor(shape: shape, storage: .int(out))
        default:
            throw FoldError.invalid("\(op) of a floating-point and an integer tensor")
        }
    }

    static func unary(_ op: String, _ x: ConstTensor) throws -> ConstTensor {
        if case .int(let v) = x.storage {
            switch op {
            case "Neg": return ConstTensor(shape: x.shape, storage: .int(try v.map { try $0.negated() }))
            case "Abs": return ConstTensor(shape: x.shape, ints: try x.ints().map { try $0 < 0 ? CheckedMath.neg($0) : $0 })
            case "Relu": return ConstTensor(shape: x.shape, ints: try x.ints().map { Swift.max($0, 0) })
            default: throw FoldError.invalid("\(op) of an integer tensor")
            }
        }
        let v = try x.floatValues()
        let f: (Float) -> Float
        switch op {
        case "Neg": f = { -$0 }
        case "Abs": f = { Swift.abs($0) }
        case "Sqrt": f = { $0.squareRoot() }
        case "Reciprocal": f = { 1 / $0 }
        case "Exp": f = { Float(exp(Double($0))) }
        case "Log": f = { Float(log(Double($0))) }
        case "Floor": f = { $0.rounded(.down) }
        case "Ceil": f = { $0.rounded(.up) }
        case "Relu": f = { Swift.max($0, 0) }
        case "Sigmoid": f = { Float(1 / (1 + exp(-Double($0)))) }
        default: f = { Float(tanh(Double($0))) }
        }
        return ConstTensor(shape: x.shape, floats: v.map(f))
    }

    static func reduce(_ op: String, _ x: ConstTensor, axes rawAxes: [Int], keepDims: Bool) throws -> ConstTensor {
        let v = try x.floatValues()
        let rank = x.shape.count
        let axes = rawAxes.isEmpty ? Set(0..<rank) : Set(try rawAxes.map { try ShapeMath.axis($0, rank: rank) })
        let keptShape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let outCount = try CheckedMath.checkedCount(keptShape)
        let keptStrides = ShapeMath.strides(keptShape)
        let inStrides = ShapeMath.strides(x.shape)
        let initial: Float = switch op {
        case "ReduceMax": -.infinity
        case "ReduceMin": .infinity
        case "ReduceProd": 1
        default: 0
        }
        var acc = [Float](repeating: initial, count: outCount)
        for f in 0..<v.count {
            var o = 0
            for a in 0..<rank where !axes.contains(a) { o += ((f / inStrides[a]) % x.shape[a]) * keptStrides[a] }
            switch op {
            case "ReduceMax": acc[o] = Swift.max(acc[o], v[f])
            case "ReduceMin": acc[o] = Swift.min(acc[o], v[f])
            case "ReduceProd": acc[o] *= v[f]
            default: acc[o] += v[f]
            }
        }
        if op == "ReduceMean", outCount > 0 {
            let n = Float(v.count / outCount)
            acc = acc.map { $0 / n }
        }
        let outShape = keepDims ? keptShape : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return ConstTensor(shape: outShape, floats: acc)
    }
}
