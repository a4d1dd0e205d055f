import ServeConfig
import XCTest

/// `smoothing:` of a pipeline: a strength or a mapping of strength and mode, anything else one line naming it.
final class SmoothingConfigTests: XCTestCase {
    private func pipeline(_ smoothing: String) -> String { "pipelines:\n" + cam1 + "\n    smoothing: \(smoothing)\n" }

    private func smoothing(_ value: String) throws -> SmoothingConfig {
        let config = try ConfigLoader.parse(yaml: pipeline(value), fileName: "streamd.yml", baseDirectory: "/etc/streamd",
                                            environment: [:], overrides: [])
        return config.pipelines[0].style.smoothing
    }

    func testStrengthOrMappingAndOffByDefault() throws {
        let plain = try ConfigLoader.parse(yaml: "pipelines:\n" + cam1, fileName: "streamd.yml", baseDirectory: "/etc/streamd",
                                           environment: [:], overrides: [])
        XCTAssertEqual(plain.pipelines[0].style.smoothing, SmoothingConfig(strength: 0, mode: .flow))
        XCTAssertEqual(try smoothing("0.3"), SmoothingConfig(strength: 0.3, mode: .flow))
        XCTAssertEqual(try smoothing("{mode: still}"), SmoothingConfig(strength: SmoothingConfig.defaultStrength, mode: .still))
        XCTAssertEqual(try smoothing("{strength: 1, mode: flow}"), SmoothingConfig(strength: 1, mode: .flow))
    }

    func testBadValuesGetOneLineNamingTheKey() {
        XCTAssertEqual(problems(pipeline("yes")),
                       ["streamd.yml:8:16: pipelines.cam1.smoothing: expected a strength from 0 to 1 or a mapping of strength, mode, got 'yes'"])
        XCTAssertEqual(problems(pipeline("2")), ["streamd.yml:8:16: pipelines.cam1.smoothing: must be between 0.0 and 1.0, got 2.0"])
        XCTAssertEqual(problems(pipeline("{mode: wobble}")),
                       ["streamd.yml:8:23: pipelines.cam1.smoothing.mode: unknown value 'wobble' (expected flow, still)"])
        XCTAssertEqual(problems(pipeline("{strength: -1}")),
                       ["streamd.yml:8:27: pipelines.cam1.smoothing.strength: must be between 0.0 and 1.0, got -1.0"])
        for problem in problems(pipeline("[1]")) + problems(pipeline("{stregth: 1}")) {
            XCTAssertFalse(problem.contains("\n"))
            XCTAssertTrue(problem.contains("pipelines.cam1.smoothing"), problem)
        }
        XCTAssertEqual(problems(pipeline("[1]")).count, 1)
    }
}
