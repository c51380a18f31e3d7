@testable import Daemon
import Actions
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Testing

/// The daemon's `CalendarHealth`: every configured host listed before any call, providers built
/// from `calendarContext` feeding it and the metrics, `/readyz` and `/v1/health` showing it
/// without failing readiness, reloads adding and dropping hosts.
@Suite("Calendar provider health in the daemon")
struct CalendarHealthWiringTests {
    static func host(_ name: String, provider: [String: Any]) -> [String: Any] {
        ["name": name, "email": "\(name)@demo.example", "time_zone": "Europe/Berlin", "working_hours": ["mon": ["09:00-17:00"]], "provider": provider]
    }

    static func scheduling(withBob: Bool) -> [String: Any] {
        var hosts = [host("ada", provider: ["type": "local"])]
        if withBob {
            // Nothing listens on port 1; the test never lets it be called.
            hosts.append(host("bob", provider: ["type": "caldav", "url": "http://127.0.0.1:1/cal/", "username": "bob", "password": ["value": "p"], "allow_plaintext": true]))
        }
        return ["calendars": ["demo": ["organization": "demo", "assignment": "round_robin", "hosts": hosts]]]
    }

    @Test func hostsListedReadinessStaysGreenMetricsAndReload() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["scheduling": Self.scheduling(withBob: true)]))
        let loaded = try ConfigLoader.load(path: fixture.configPath, environment: [:])
        let app = try await DaemonApp.open(loaded: loaded, environment: [:], notifier: SystemdNotifier(environment: [:]), logLevel: SharedValue(.info), logger: Logger(label: "test"))

        // Registered at start, before any provider exists or is called.
        #expect(app.calendarHealth.snapshot().map { "\($0.provider) \($0.kind) \($0.state.rawValue)" } == ["demo/ada local unknown", "demo/bob caldav unknown"])

        // Providers from the daemon's context report to its health and metrics.
        let calendar = try #require(app.config.scheduling.calendars["demo"])
        let providers = try CalendarProviders.make(calendar: calendar, bookings: app.store, context: app.calendarContext)
        let ada = try #require(providers["ada"])
        _ = try await ada.busyTimes(in: DateInterval(start: Date(), duration: 86_400))
        #expect(app.calendarHealth.health(of: "demo/ada")?.state == .ok)
        app.calendarHealth.recordFailure(provider: "demo/bob", kind: "caldav", error: .reconnectNeeded("CalDAV REPORT http://127.0.0.1:1/cal/ answered 401"))

        let (secret, _) = try await AdminTokens.create(store: app.store, role: .viewer, organization: nil, lifetime: nil, name: "t", now: Date(), actor: "test", address: "test")
        try await Application(router: app.makeAdminRouter()).test(.router) { client in
            let requests: [(String, HTTPFields)] = [("/readyz", [:]), ("/v1/health", [.authorization: "Bearer \(secret)"])]
            for (uri, headers) in requests {
                let response = try await client.execute(uri: uri, method: .get, headers: headers)
                #expect(response.status == .ok, "a reconnect-needed calendar does not fail readiness (\(uri))")
                let body = try JSONValue.parse(Data(response.body.readableBytesView))
                let calendars = try #require(body["checks"]?["calendars"], "\(uri): \(body)")
                #expect(calendars["ok"] == .bool(true))
                #expect(calendars["state"] == .string("degraded"))
                #expect(calendars["reconnect_needed"] == .array([.string("demo/bob")]))
                let entries = calendars["providers"]?.arrayValue ?? []
                #expect(entries.count == 2)
                let bob = try #require(entries.first { $0["provider"] == .string("demo/bob") })
                #expect(bob["calendar"] == .string("demo"))
                #expect(bob["host"] == .string("bob"))
                #expect(bob["kind"] == .string("caldav"))
                #expect(bob["state"] == .string("reconnect_needed"))
                #expect(bob["reconnect_needed"] == .bool(true))
                #expect(bob["last_error"]?.stringValue?.contains("answered 401") == true)
                #expect(bob["since"]?.stringValue != nil)
                #expect(entries.first { $0["provider"] == .string("demo/ada") }?["state"] == .string("ok"))
            }
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"astralisd_calendar_providers{state="reconnect_needed"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"astralisd_calendar_providers{state="ok"} 1"#))
            #expect(metrics.contains(#"astralisd_calendar_providers{state="degraded"} 0"#))
            #expect(metrics.contains(#"astralisd_calendar_calls_total{kind="local",operation="busy",outcome="ok"} 1"#))
        }

        // Not detailed (a non-loopback admin bind): the status only.
        let plain = await app.adminRoutes().readiness(detailed: false)
        #expect(plain.status == .ok)

        // A reload that removes bob drops him from health; ada keeps her state.
        try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["scheduling": Self.scheduling(withBob: false)]))
        guard case .applied = app.reload() else {
            Issue.record("reload rejected")
            return
        }
        #expect(app.calendarHealth.snapshot().map { "\($0.provider) \($0.state.rawValue)" } == ["demo/ada ok"])
    }

    /// `astralisd check` validates calendars without calling them: a Google host whose endpoints
    /// and a CalDAV host whose server are unreachable (TEST-NET-1 addresses would hang a
    /// connect until its timeout) still check in well under the 30 s request timeout.
    @Test(.timeLimit(.minutes(1)))
    func checkNeedsNoNetwork() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let google: [String: Any] = [
            "type": "google", "client_id": "c", "client_secret": ["env": "CAL_SECRET"], "refresh_token": ["env": "CAL_TOKEN"],
            "token_url": "https://192.0.2.1/token", "api_base_url": "https://192.0.2.1/calendar/v3",
        ]
        let caldav: [String: Any] = ["type": "caldav", "url": "https://192.0.2.2/cal/", "username": "bob", "password": ["env": "CAL_PASSWORD"]]
        let scheduling: [String: Any] = ["calendars": ["demo": ["organization": "demo", "hosts": [Self.host("ada", provider: google), Self.host("bob", provider: caldav)]]]]
        try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["scheduling": scheduling]))
        let started = ContinuousClock.now
        let result = try await runCommand(
            try TestTools.astralisd(), ["check", "--config", fixture.configPath],
            environment: TestTools.childEnvironment(["CAL_SECRET": "s", "CAL_TOKEN": "t", "CAL_PASSWORD": "p"]), in: fixture.root)
        #expect(result.exitedCleanly, "\(result.summary)")
        #expect(result.stdout.contains("configuration ok"), "\(result.summary)")
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}

