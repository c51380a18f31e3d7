import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension DaemonProcessTests {
    /// Signals and systemd integration of `astralisd run`.
    @Suite("Lifecycle: SIGTERM, SIGHUP, sd_notify")
    struct Lifecycle {
        @Test("SIGTERM drains: exit 0, nothing accepted is lost", .timeLimit(.minutes(2)))
        func gracefulShutdownDrains() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let count = 10
            let first = try await fixture.startReady()

            let base = fixture.webhookBase
            let answers = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await DaemonFixture.postWebhook(base: base, body: DaemonFixture.payload(name: "Drain\(index)", subject: "S\(index)"), idempotencyKey: "drain-\(index)")
                    }
                }
                var results: [HTTPResult] = []
                for try await result in group { results.append(result) }
                return results
            }
            var intakeIDs: [String] = []
            for answer in answers {
                try #require(answer.status == 202, "\(answer.status.map(String.init) ?? "no answer") \(answer.body)\nlog:\n\(first.log)")
                intakeIDs.append(try #require(answer.decode(AcceptedWebhook.self)).intake_id)
            }

            first.signal(SIGTERM)
            // grace_seconds is 10 in the fixture; a clean drain takes far less.
            let exit = await first.waitForExit(timeout: .seconds(15))
            #expect(exit?.reason == .exit && exit?.status == 0, "SIGTERM should end in exit status 0; got \(String(describing: exit))\nlog:\n\(first.log)")
            try #require(exit != nil, "still running 15 s after SIGTERM")
            #expect(first.log.contains("Shutting down"), "log:\n\(first.log)")
            #expect(first.log.contains("astralisd stopped"), "log:\n\(first.log)")

            // A drain finishes the jobs it had started: nothing is left half-processed.
            for id in intakeIDs {
                let report = try await fixture.intakeReport(id)
                #expect(report.intake.status == "received" || report.intake.status == "done", "intake \(id) left in \(report.intake.status) by a graceful stop")
            }

            let second = try await fixture.startReady()
            let stuck = try await fixture.waitUntilDone(intakeIDs)
            #expect(stuck.isEmpty, "intakes not done after restart: \(stuck)\nlog:\n\(second.log)")
            try await fixture.stop(second)
            let items = try await fixture.items()
            #expect(items.count == count, "one item per accepted webhook: \(items.map(\.intakeID))")
            for id in intakeIDs {
                #expect(items.filter { $0.intakeID == id }.count == 1, "intake \(id) should have exactly one item")
            }
        }

        @Test("SIGHUP with a broken config keeps the running one; a valid one is applied", .timeLimit(.minutes(2)))
        func reloadKeepsOldConfigOnError() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let daemon = try await fixture.startReady()
            let probe = DaemonFixture.payload(name: "Probe", subject: "second")

            let before = try await fixture.postWebhook(source: "second-form", body: probe)
            #expect(before.status == 404, "second-form is not configured yet: \(before.status.map(String.init) ?? "no answer") \(before.body)")

            // 1. Not JSON at all.
            try fixture.writeConfig("{ \"state_dir\": ")
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Reload rejected", count: 1), "log:\n\(daemon.log)")
            #expect(daemon.isRunning, "a broken config must not stop the daemon; log:\n\(daemon.log)")
            let afterBadJSON = try await fixture.postWebhook(body: DaemonFixture.payload(name: "Still", subject: "works"))
            #expect(afterBadJSON.status == 202, "webhooks keep working on the old config: \(afterBadJSON.body)")

            // 2. Valid JSON that adds second-form but also has an unknown key: nothing of it applies.
            try fixture.writeConfig(fixture.configJSON(sources: [DaemonFixture.source, "second-form"], extraTopLevel: ["colour": "blue"]))
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Reload rejected", count: 2), "log:\n\(daemon.log)")
            #expect(daemon.log.contains("colour"), "the rejection names the bad key; log:\n\(daemon.log)")
            #expect(daemon.isRunning)
            let partial = try await fixture.postWebhook(source: "second-form", body: probe)
            #expect(partial.status == 404, "a rejected config must not be half-applied: \(partial.status.map(String.init) ?? "no answer") \(partial.body)")
            let ready = try await HTTP.request("GET", fixture.adminBase + "/readyz")
            #expect(ready.status == 200, "still ready after rejected reloads: \(ready.body)")

            // 3. A valid config adding second-form.
            try fixture.writeConfig(fixture.configJSON(sources: [DaemonFixture.source, "second-form"]))
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Configuration reloaded", count: 1), "log:\n\(daemon.log)")
            let after = try await fixture.postWebhook(source: "second-form", body: probe)
            #expect(after.status == 202, "second-form after the reload: \(after.status.map(String.init) ?? "no answer") \(after.body)\nlog:\n\(daemon.log)")
            if let intake = after.decode(AcceptedWebhook.self) {
                let stuck = try await fixture.waitUntilDone([intake.intake_id], source: "second-form")
                #expect(stuck.isEmpty, "an intake from the new source is processed: \(stuck)\nlog:\n\(daemon.log)")
            }
            #expect(daemon.isRunning)
            try await fixture.stop(daemon)
        }

        @Test("SIGHUP adding a pipeline and a source routed to it: the next webhook lands there", .timeLimit(.minutes(2)))
        func reloadAddsPipelineAndRoute() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let daemon = try await fixture.startReady()

            try fixture.writeConfig(fixture.configJSON(sources: [DaemonFixture.source]) { organization in
                var pipelines = organization["pipelines"] as? [[String: Any]] ?? []
                pipelines.append(["id": "support", "name": "Support", "stages": [["id": "open"], ["id": "closed"]]])
                organization["pipelines"] = pipelines
                var sources = organization["sources"] as? [[String: Any]] ?? []
                sources.append([
                    "id": "support-form", "type": "webhook", "auth": ["type": "none"],
                    "route": ["pipeline": "support", "stage": "open", "priority": "high", "title": "Ticket: {{payload.subject}}"] as [String: Any],
                ])
                organization["sources"] = sources
            })
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Configuration reloaded"), "log:\n\(daemon.log)")

            // Straight after the reload, as a form would post.
            let answer = try await fixture.postWebhook(source: "support-form", body: DaemonFixture.payload(name: "Lin", subject: "Broken login"))
            try #require(answer.status == 202, "\(answer.status.map(String.init) ?? "no answer") \(answer.body)\nlog:\n\(daemon.log)")
            let intakeID = try #require(answer.decode(AcceptedWebhook.self)).intake_id
            let stuck = try await fixture.waitUntilDone([intakeID], source: "support-form", timeout: .seconds(20))
            #expect(stuck.isEmpty, "intake routed to the new pipeline: \(stuck)\nlog:\n\(daemon.log)")
            #expect(!daemon.log.contains("Job failed"), "the first webhook after a reload should not need a retry; log:\n\(daemon.log)")
            try await fixture.stop(daemon)

            let report = try await fixture.intakeReport(intakeID)
            #expect(report.item?.pipeline == "support" && report.item?.stage == "open", "item placed by the source's route: \(String(describing: report.item))")
            #expect(report.item?.title == "Ticket: Broken login")
        }

        /// systemd may send `systemctl reload`'s SIGHUP the moment READY=1 arrives; the default
        /// action of SIGHUP is to terminate, so the handler must be in place by then.
        @Test("SIGHUP straight after READY=1 reloads instead of killing", .timeLimit(.minutes(2)))
        func sighupRightAfterReady() async throws {
            for attempt in 1...3 {
                let fixture = try DaemonFixture()
                defer { fixture.cleanUp() }
                let socket = try NotifySocket(path: fixture.root.appendingPathComponent("notify.sock").path)
                let daemon = try fixture.start(environment: ["NOTIFY_SOCKET": socket.path])
                let ready = try #require(await socket.waitFor(timeout: .seconds(15)) { $0.has("READY=1") }, "attempt \(attempt): no READY=1; log:\n\(daemon.log)")
                daemon.signal(SIGHUP)
                let reloading = await socket.waitFor(from: ready + 1, timeout: .seconds(10)) { $0.has("RELOADING=1") }
                #expect(reloading != nil, "attempt \(attempt): no RELOADING=1 after an early SIGHUP: \(socket.transcript)\nlog:\n\(daemon.log)")
                let exit = await daemon.waitForExit(timeout: .milliseconds(200))
                #expect(exit == nil, "attempt \(attempt): SIGHUP right after READY killed the daemon: \(String(describing: exit))\nlog:\n\(daemon.log)")
                guard daemon.isRunning else { break }
                try await fixture.stop(daemon)
            }
        }


        @Test("SIGHUP applies workers.poll_interval_ms live", .timeLimit(.minutes(2)))
        func reloadAppliesPollInterval() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            func config(pollMs: Int) -> String {
                var text = fixture.configJSON()
                text = text.replacingOccurrences(of: "\"poll_interval_ms\" : 100", with: "\"poll_interval_ms\" : \(pollMs)")
                return text
            }
            let slow = config(pollMs: 60_000)
            try #require(slow.contains("\"poll_interval_ms\" : 60000"), "config edit failed: \(slow)")
            try fixture.writeConfig(slow)
            let daemon = try await fixture.startReady()

            try fixture.writeConfig(config(pollMs: 100))
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Configuration reloaded"), "log:\n\(daemon.log)")
            // A webhook rings the worker awake; its next idle wait is the first after the reload.
            let wake = try await fixture.postWebhook(body: DaemonFixture.payload(name: "Wake", subject: "up"))
            let wakeID = try #require(wake.decode(AcceptedWebhook.self), "\(wake.body)").intake_id
            #expect(try await fixture.waitUntilDone([wakeID], timeout: .seconds(10)).isEmpty)

            // `ingest` from another process does not ring the worker: only polling finds its job.
            let payloadURL = fixture.root.appendingPathComponent("polled.json")
            try Data(DaemonFixture.payload(name: "Polled", subject: "later").utf8).write(to: payloadURL)
            let ingest = try await fixture.cli(["ingest", payloadURL.path, "--source", DaemonFixture.source])
            let intakeID = try #require(ingest.stdout.split(separator: " ").first.map(String.init), "\(ingest.summary)")
            let stuck = try await fixture.waitUntilDone([intakeID], timeout: .seconds(5))
            #expect(stuck.isEmpty, "with a 100 ms poll after the reload an ingested intake is picked up within 5 s; still \(stuck)")
            try await fixture.stop(daemon)
        }

        @Test("SIGHUP applies workers.lease_seconds live", .timeLimit(.minutes(2)))
        func reloadAppliesLeaseDuration() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let shortLease = fixture.configJSON()
            let longLease = shortLease.replacingOccurrences(of: "\"lease_seconds\" : 5", with: "\"lease_seconds\" : 300")
            try #require(longLease.contains("\"lease_seconds\" : 300"), "config edit failed")
            try fixture.writeConfig(longLease)
            // The worker leases the job, commits the decision and dies holding the lease.
            let first = try await fixture.startReady(environment: ["ASTRALISD_TEST_CRASH_POINT": "after-decision-commit"])
            try fixture.writeConfig(shortLease)
            first.signal(SIGHUP)
            #expect(await first.waitForLog("Configuration reloaded"), "log:\n\(first.log)")
            let answer = try await fixture.postWebhook(body: DaemonFixture.payload(name: "Lease", subject: "five"), idempotencyKey: "lease-1")
            #expect(answer.status == 202, "\(answer.body)")
            let death = await first.waitForExit(timeout: .seconds(15))
            try #require(death?.reason == .uncaughtSignal, "expected the crash point to kill the daemon: \(String(describing: death))\nlog:\n\(first.log)")

            let second = try await fixture.startReady()
            // Leased with the reloaded 5 s, the job is free again in well under 15 s.
            let settled = try await fixture.waitUntilQueueSettled(timeout: .seconds(15))
            #expect(settled?.checks.queue.leased == 0, "the dead worker's lease should have expired after 5 s: \(String(describing: settled))")
            try await fixture.stop(second)
        }

        @Test("sd_notify: READY once listening, WATCHDOG, RELOADING+READY on SIGHUP, STOPPING on SIGTERM", .timeLimit(.minutes(2)))
        func systemdNotifications() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let socket = try NotifySocket(path: fixture.root.appendingPathComponent("notify.sock").path)
            let daemon = try fixture.start(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"])

            let readyIndex = try #require(await socket.waitFor(timeout: .seconds(15)) { $0.has("READY=1") }, "no READY=1 within 15 s; got: \(socket.transcript)\nlog:\n\(daemon.log)")
            // READY means both listeners take requests now, with no retry needed.
            let webhook = try await fixture.postWebhook(body: DaemonFixture.payload(name: "Ready", subject: "now"))
            #expect(webhook.status == 202, "webhook right after READY=1: \(webhook.status.map(String.init) ?? "no answer") \(webhook.curlError)")
            let ready = try await HTTP.request("GET", fixture.adminBase + "/readyz")
            #expect(ready.status == 200, "/readyz right after READY=1: \(ready.status.map(String.init) ?? "no answer") \(ready.curlError)")
            #expect(socket.messages[readyIndex].value("STATUS")?.contains("127.0.0.1:\(fixture.webhookPort)") == true, "READY carries a STATUS naming the listener: \(socket.messages[readyIndex].text)")
            #expect(!socket.messages[..<readyIndex].contains { $0.has("STOPPING=1") || $0.has("RELOADING=1") })

            // WATCHDOG_USEC=2 s: pings every ~0.67 s.
            let firstPing = try #require(await socket.waitFor(timeout: .seconds(5)) { $0.has("WATCHDOG=1") }, "no WATCHDOG=1 within 5 s; got: \(socket.transcript)")
            let secondPing = await socket.waitFor(from: firstPing + 1, timeout: .seconds(5)) { $0.has("WATCHDOG=1") }
            #expect(secondPing != nil, "watchdog pings keep coming: \(socket.transcript)")

            let beforeReload = monotonicMicroseconds()
            let mark = socket.messages.count
            daemon.signal(SIGHUP)
            let reloading = try #require(await socket.waitFor(from: mark, timeout: .seconds(10)) { $0.has("RELOADING=1") }, "no RELOADING=1 after SIGHUP: \(socket.transcript)\nlog:\n\(daemon.log)")
            let stamp = socket.messages[reloading].value("MONOTONIC_USEC").flatMap(UInt64.init)
            #expect(stamp != nil, "RELOADING=1 must carry MONOTONIC_USEC: \(socket.messages[reloading].text)")
            if let stamp {
                #expect(stamp >= beforeReload && stamp <= socket.messages[reloading].receivedAt, "MONOTONIC_USEC=\(stamp) is CLOCK_MONOTONIC at the reload (between \(beforeReload) and \(socket.messages[reloading].receivedAt))")
            }
            let reReady = await socket.waitFor(from: reloading + 1, timeout: .seconds(10)) { $0.has("READY=1") }
            #expect(reReady != nil, "READY=1 after RELOADING=1: \(socket.transcript)")

            daemon.signal(SIGTERM)
            let stopping = await socket.waitFor(from: reloading + 1, timeout: .seconds(10)) { $0.has("STOPPING=1") }
            #expect(stopping != nil, "STOPPING=1 after SIGTERM: \(socket.transcript)\nlog:\n\(daemon.log)")
            let exit = await daemon.waitForExit(timeout: .seconds(15))
            #expect(exit?.reason == .exit && exit?.status == 0, "got \(String(describing: exit))\nlog:\n\(daemon.log)")
        }
    }
}
