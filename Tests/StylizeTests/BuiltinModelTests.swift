import Foundation
import Pipeline
import Stylize
import XCTest

/// The model compiled into streamd (`builtin:default`), reached through the same resolve/detect/load calls as a
/// file, with no shared data and no models directory (`tmp` is the test's empty directory).
extension NativeModelFileTests {
    /// A library of one empty directory: nothing of the machine's search path.
    var emptyLibrary: ModelLibrary { ModelLibrary(directories: [tmp.path]) }

    func testDefaultResolvesToTheBuiltInModelAndLoads() throws {
        let path = try emptyLibrary.resolve("default")
        XCTAssertEqual(path, "builtin:default")
        XCTAssertEqual(try ModelLoader.detect(path), .native)
        let model = try ModelLoader.load(path: path)
        XCTAssertEqual(model.info.name, "default")
        XCTAssertEqual(model.info.styleNames, ["wave", "scream", "wreck", "udnie"])
        let picture = RGBImage(width: 40, height: 30, pixels: (0..<(40 * 30 * 3)).map { UInt8($0 * 7 % 251) })
        let out = try Stylizer(model: model, threads: 1).stylize(picture)
        XCTAssertEqual(out.width, 40)
        XCTAssertEqual(out.height, 30)
        XCTAssertNotEqual(out.pixels, picture.pixels)
        XCTAssertEqual(emptyLibrary.list().map(\.name), ["default", "arbitrary", "arbitrary-fast"])
        XCTAssertEqual(emptyLibrary.list().first?.path, "builtin:default")
    }

    /// Loading from bytes and from a file go through one parser: the built-in bytes written to a file load to
    /// the same model (its stored name aside).
    func testBytesAndFileLoadTheSameModel() throws {
        let builtin = try ModelLoader.load(path: "builtin:default")
        let file = tmp.appendingPathComponent("copy.safetensors").path
        try NativeModelFile.write(builtin, to: file)
        let fromFile = try ModelLoader.load(path: file)
        let fromBytes = try NativeModelFile.load(data: try Data(contentsOf: URL(fileURLWithPath: file)), name: "copy")
        XCTAssertEqual(fromFile.info, builtin.info)
        XCTAssertEqual(fromFile.weights, builtin.weights)
        XCTAssertEqual(fromBytes.graph, fromFile.graph)
        XCTAssertEqual(fromBytes.weights, fromFile.weights)
        // A slice of a larger buffer parses too, and a cut one is refused naming what it was called.
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertEqual(try NativeModelFile.load(data: (Data([1, 2, 3]) + data).dropFirst(3), name: "slice").weights, fromFile.weights)
        XCTAssertThrowsError(try NativeModelFile.load(data: data.prefix(data.count / 2), name: "half")) { e in
            XCTAssertTrue("\(e)".hasPrefix("half: "), "\(e)")
        }
    }

    /// A models directory's own `default` wins over the built-in one; `builtin:default` still reaches it.
    func testADirectorysDefaultReplacesTheBuiltInOne() throws {
        var own = try ModelLoader.load(path: "builtin:default")
        own.info.name = "mine"
        let file = tmp.appendingPathComponent("default.safetensors").path
        try NativeModelFile.write(own, to: file)
        XCTAssertEqual(try emptyLibrary.resolve("default"), file)
        XCTAssertEqual(try ModelLoader.load(path: try emptyLibrary.resolve("default")).info.name, "mine")
        XCTAssertEqual(emptyLibrary.list().map(\.path), ["builtin:arbitrary", "builtin:arbitrary-fast", file], "listed once, where it is")
        XCTAssertEqual(try emptyLibrary.resolve("builtin:default"), "builtin:default")
        for bad in ["builtin:nosuch", "nosuch"] {
            XCTAssertThrowsError(try emptyLibrary.resolve(bad)) { e in
                XCTAssertTrue("\(e)".contains(bad), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"), "\(e)")
            }
        }
        XCTAssertThrowsError(try ModelLoader.load(path: "builtin:nosuch"))
    }

    func testStyleNamesBecomeStyleVectors() throws {
        let names = ["wave", "scream", "wreck", "udnie"]
        XCTAssertEqual(try StyleChoice.name("wreck").weights(styleNames: names), [0, 0, 1, 0])
        XCTAssertEqual(try StyleChoice.name("wave").weights(styleNames: names), try StyleChoice.index(0).weights(styleNames: names))
        XCTAssertNil(try StyleChoice(name: nil, index: nil, mix: nil).weights(styleNames: names))
        XCTAssertThrowsError(try StyleChoice.name("nosuch").weights(styleNames: names)) { e in
            XCTAssertEqual("\(e)", "style 'nosuch' does not exist: the model's styles are wave, scream, wreck, udnie")
        }
        XCTAssertThrowsError(try StyleChoice(name: "wave", index: 1, mix: nil))
        XCTAssertThrowsError(try StyleChoice(name: "wave", index: nil, mix: [.init(index: 0, weight: 1)]))
        XCTAssertThrowsError(try StyleChoice.name("wave").weights(styleNames: [])) { e in
            XCTAssertTrue("\(e)".contains("single style"), "\(e)")
        }
    }
}
