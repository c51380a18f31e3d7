import Foundation
import Inbound
import Testing

/// The daemon decodes no document itself: `astralisd-extract` does, found next to `astralisd`
/// (or at `$ASTRALISD_EXTRACT_BIN`). Without it every attachment would fail, so the daemon does
/// not start.
@Suite("Extraction executable")
struct ExtractorInstallTests {
    @Test func theExtractorIsLookedUpNextToTheDaemonUnlessTheEnvironmentNamesIt() {
        #expect(ExtractionSandbox.extractorExecutable(environment: [:], daemon: "/opt/astralisd/bin/astralisd") == "/opt/astralisd/bin/astralisd-extract")
        #expect(ExtractionSandbox.extractorExecutable(environment: ["ASTRALISD_EXTRACT_BIN": "/srv/x"], daemon: "/opt/astralisd/bin/astralisd") == "/srv/x")
        #expect(ExtractionSandbox.extractorExecutable(environment: ["ASTRALISD_EXTRACT_BIN": ""], daemon: "/usr/bin/astralisd") == "/usr/bin/astralisd-extract")
        #expect(ExtractionSandbox.extractorProblem("/nonexistent/astralisd-extract")?.contains("/nonexistent/astralisd-extract") == true)
    }

    @Test func theBuiltExtractorIsNextToTheBuiltDaemon() throws {
        let extractor = try TestTools.extractor()
        #expect(ExtractionSandbox.extractorProblem(extractor) == nil)
    }

    @Test func theDaemonRefusesToStartWithoutTheExtractor() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let missing = "/nonexistent-\(UUID().uuidString)/astralisd-extract"
        let daemon = try fixture.start(environment: ["ASTRALISD_EXTRACT_BIN": missing])
        let exit = await daemon.waitForExit(timeout: .seconds(15))
        #expect(exit?.status == 1)
        #expect(daemon.log.contains(missing), "\(daemon.log)")
    }
}
