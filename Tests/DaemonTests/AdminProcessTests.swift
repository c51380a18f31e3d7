@testable import Daemon
import Core
import Foundation
import Testing

/// The admin API against the real binary: `astralisd token …`, a live PUT, and crashes in the
/// middle of replacing the configuration file.
@Suite("Admin API process: tokens CLI, live port, crash-safe config writes", .serialized)
struct AdminProcessTests {
    @Test func tokenCommandsCreateListAndRevoke() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let created = try await fixture.cli(["token", "create", "--role", "operator", "--org", "demo", "--expires", "30d", "--name", "ops"])
        #expect(created.exitedCleanly, "\(created.summary)")
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(AdminTokenFormat.isWellFormed(secret))
        let listed = try await fixture.cli(["token", "list", "--json"])
        #expect(listed.exitedCleanly, "\(listed.summary)")
        #expect(!listed.stdout.contains(secret) && !listed.stdout.contains(AdminTokenFormat.sha256(secret)))
        let tokens = try JSONValue.parse(Data(listed.stdout.utf8)).arrayValue ?? []
        #expect(tokens.count == 1)
        #expect(tokens.first?["role"]?.stringValue == "operator" && tokens.first?["organization"]?.stringValue == "demo" && tokens.first?["state"]?.stringValue == "active")
        let id = try #require(tokens.first?["id"]?.stringValue)
        let badOrg = try await fixture.cli(["token", "create", "--role", "viewer", "--org", "nope"])
        #expect(badOrg.status == 1)
        let revoked = try await fixture.cli(["token", "revoke", id])
        #expect(revoked.exitedCleanly, "\(revoked.summary)")
        let after = try JSONValue.parse(Data(try await fixture.cli(["token", "list", "--json"]).stdout.utf8)).arrayValue ?? []
        #expect(after.first?["state"]?.stringValue == "revoked")
        #expect(try await fixture.cli(["token", "revoke", "tok_missing"]).status == 1)
    }

    @Test func nonLoopbackAdminBindIsRefusedWithoutTokens() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        var text = fixture.configJSON()
        text = text.replacingOccurrences(of: "127.0.0.1:\(fixture.adminPort)", with: "0.0.0.0:\(fixture.adminPort)")
        try fixture.writeConfig(text)
        let check = try await fixture.cli(["check"])
        #expect(check.status == 1 && check.stderr.contains("no admin token exists"), "\(check.summary)")
        #expect(try await fixture.cli(["token", "create", "--role", "admin"]).exitedCleanly)
        let again = try await fixture.cli(["check"])
        #expect(again.status == 1 && again.stderr.contains("admin.allow_plaintext"), "\(again.summary)")
        let daemon = try fixture.start()
        let exit = await daemon.waitForExit(timeout: .seconds(15))
        #expect(exit?.status == 1)
        #expect(daemon.log.contains("admin.allow_plaintext"))
    }

    /// A kill at each point of the write leaves the old file or the new one, byte for byte.
    @Test(arguments: [
        (CrashPoint.duringConfigTempWrite, false), (CrashPoint.afterConfigTempWrite, false), (CrashPoint.afterConfigRename, true),
    ])
    func aCrashDuringTheConfigWriteLeavesOldOrNew(point: String, expectNew: Bool) async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let created = try await fixture.cli(["token", "create", "--role", "admin"])
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let old = try #require(FileManager.default.contents(atPath: fixture.configPath))
        var document = try JSONValue.parse(old).objectValue ?? [:]
        document["log"] = .object(["level": .string("debug")])
        let new = JSONValue.object(document).encoded()

        let daemon = try fixture.start(environment: ["ASTRALISD_TEST_CRASH_POINT": point])
        try await fixture.waitUntilReady(daemon)
        let answer = try await HTTP.request("PUT", fixture.adminBase + "/v1/config", body: String(decoding: new, as: UTF8.self), headers: [
            "Authorization": "Bearer \(secret)", "Content-Type": "application/json", "If-Match": AdminAPI.etag(old),
        ])
        #expect(answer.status == nil, "the daemon should have died at \(point)")
        let exit = await daemon.waitForExit(timeout: .seconds(10))
        #expect(exit?.reason == .uncaughtSignal)
        let now = try #require(FileManager.default.contents(atPath: fixture.configPath))
        #expect(now == (expectNew ? new : old), "\(point)")
        // Whatever is there parses and starts.
        let restarted = try await fixture.startReady()
        try await fixture.stop(restarted)
    }

    /// The live port answers the same way the in-process router does.
    @Test func liveAdminPort() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let secret = try await fixture.cli(["token", "create", "--role", "viewer"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let daemon = try await fixture.startReady()
        let ok = try await HTTP.request("GET", fixture.adminBase + "/v1/pipelines", headers: ["Authorization": "Bearer \(secret)"])
        #expect(ok.status == 200, "\(ok.body)")
        #expect(ok.body.contains("\"sales\""))
        let denied = try await HTTP.request("GET", fixture.adminBase + "/v1/pipelines")
        #expect(denied.status == 401)
        try await fixture.stop(daemon)
        #expect(!daemon.log.contains(secret))
    }
}
