import Actions
import AsyncHTTPClient
import Foundation
import Testing

/// The sender against a real receiver on loopback that checks signatures independently.
@Suite("Outbound webhook sender", .serialized)
struct WebhookSenderTests {
    static func client() -> HTTPClient {
        HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
    }

    /// Runs `body` with a receiver and a client, and stops both.
    func withReceiver(_ body: (WebhookReceiver, HTTPClient, WebhookSender) async throws -> Void) async throws {
        let receiver = try await WebhookReceiver()
        let client = Self.client()
        do {
            try await body(receiver, client, WebhookSender(client: client))
        } catch {
            receiver.stop()
            try await client.shutdown()
            throw error
        }
        receiver.stop()
        try await client.shutdown()
    }

    func attempt(_ url: String, id: String = "msg_test_1", allowPrivate: Bool = true, timeout: TimeInterval = 10, headers: [(String, String)] = []) throws -> WebhookAttempt {
        WebhookAttempt(
            url: url, messageID: id, body: Data(#"{"type":"intake.forwarded","data":{"n":1}}"#.utf8),
            signer: try WebhookSigner(secret: WebhookReceiver.secret), headers: headers, timeout: timeout, allowPrivate: allowPrivate)
    }

    @Test("a 2xx delivery carries a signature the receiver verifies, and the extra headers", .timeLimit(.minutes(2)))
    func delivered() async throws {
        try await withReceiver { receiver, client, sender in
            let outcome = try await sender.send(attempt(receiver.base + "/ok", headers: [("Authorization", "Bearer t0ken")]))
            #expect(outcome == .delivered(status: 204))
            let log = try await receiver.log(client: client)
            #expect(log.count == 1)
            #expect(log.first?.valid == true, "signature must verify with the published algorithm")
            #expect(log.first?.id == "msg_test_1")
            #expect(log.first?.headers["authorization"] == "Bearer t0ken")
            #expect(log.first?.headers["content-type"] == "application/json")
            #expect(log.first?.body == #"{"type":"intake.forwarded","data":{"n":1}}"#)
            // A wrong secret does not verify: the receiver's check is real.
            let wrong = WebhookAttempt(url: receiver.base + "/ok", messageID: "msg_wrong", body: Data("{}".utf8), signer: try WebhookSigner(secret: "whsec_c2VjcmV0LWJ1dC13cm9uZw=="), allowPrivate: true)
            let refused = await sender.send(wrong)
            #expect(refused == .permanent(status: 401, reason: "HTTP 401: signature does not verify"))
        }
    }

    @Test("503 retries with the same webhook-id until it succeeds; 400 is permanent with the body excerpt; 410 is gone", .timeLimit(.minutes(2)))
    func outcomes() async throws {
        try await withReceiver { receiver, client, sender in
            let flaky = try attempt(receiver.base + "/flaky/2", id: "msg_flaky")
            let first = await sender.send(flaky)
            let second = await sender.send(flaky)
            let third = await sender.send(flaky)
            #expect(first == .retry(status: 503, reason: "HTTP 503: try again later", retryAfter: nil))
            #expect(second == first)
            #expect(third == .delivered(status: 200))
            let bad = try await sender.send(attempt(receiver.base + "/status/400"))
            #expect(bad == .permanent(status: 400, reason: "HTTP 400: receiver says 400"))
            let gone = try await sender.send(attempt(receiver.base + "/status/410"))
            #expect(gone == .gone(reason: "HTTP 410: receiver says 410"))
            let timeoutStatus = try await sender.send(attempt(receiver.base + "/status/408"))
            #expect(timeoutStatus.name == "retry")
            let serverError = try await sender.send(attempt(receiver.base + "/status/500"))
            #expect(serverError.name == "retry")

            let log = try await receiver.log(client: client)
            let flakyIDs = log.filter { $0.path == "/flaky/2" }.map(\.id)
            #expect(flakyIDs == ["msg_flaky", "msg_flaky", "msg_flaky"], "same webhook-id on every attempt")
            #expect(log.allSatisfy { $0.valid })
            // Timestamps are per attempt; each attempt's signature covers its own.
            #expect(log.filter { $0.path == "/flaky/2" }.allSatisfy { Int($0.timestamp) != nil })
        }
    }

    @Test("429 with Retry-After is retried after the time the receiver asked for", .timeLimit(.minutes(2)))
    func retryAfter() async throws {
        try await withReceiver { receiver, _, sender in
            let outcome = try await sender.send(attempt(receiver.base + "/retry-after/7"))
            #expect(outcome == .retry(status: 429, reason: "HTTP 429", retryAfter: 7))
        }
    }

    @Test("a slow receiver times out and is retried", .timeLimit(.minutes(2)))
    func timeout() async throws {
        try await withReceiver { receiver, _, sender in
            let started = ContinuousClock.now
            let outcome = try await sender.send(attempt(receiver.base + "/slow/5", timeout: 0.5))
            #expect(outcome == .retry(status: nil, reason: "timed out after 0.5 s", retryAfter: nil))
            #expect(ContinuousClock.now - started < .seconds(4))
        }
    }

    @Test("redirects are not followed", .timeLimit(.minutes(2)))
    func redirect() async throws {
        try await withReceiver { receiver, client, sender in
            let outcome = try await sender.send(attempt(receiver.base + "/redirect"))
            guard case .permanent(let status, let reason) = outcome else {
                Issue.record("expected a permanent failure, got \(outcome)")
                return
            }
            #expect(status == 302)
            #expect(reason.contains("redirects are not followed"))
            let log = try await receiver.log(client: client)
            #expect(log.map(\.path) == ["/redirect"], "the Location was not requested")
        }
    }

    @Test("private and loopback destinations are refused without allow_private, before any request", .timeLimit(.minutes(2)))
    func ssrfRefusal() async throws {
        try await withReceiver { receiver, client, sender in
            let port = receiver.port
            let targets = [
                "http://127.0.0.1:\(port)/ok", "http://10.0.0.1:\(port)/ok", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]:\(port)/ok", "http://localhost:\(port)/ok", "https://[::ffff:127.0.0.1]:\(port)/ok",
                "http://2130706433:\(port)/ok",
            ]
            for target in targets {
                let outcome = try await sender.send(attempt(target, allowPrivate: false))
                guard case .permanent(nil, let reason) = outcome else {
                    Issue.record("\(target): expected a refusal, got \(outcome)")
                    continue
                }
                #expect(reason.hasPrefix("destination refused:"), "\(target): \(reason)")
            }
            // The same URL is delivered when the endpoint allows private destinations.
            let allowed = try await sender.send(attempt("http://localhost:\(port)/ok", allowPrivate: true))
            #expect(allowed == .delivered(status: 204))
            let log = try await receiver.log(client: client)
            #expect(log.count == 1, "refused attempts never reached the receiver: \(log.map(\.path))")
        }
    }

    @Test("http connects to the address that was checked, with the name in Host", .timeLimit(.minutes(2)))
    func pinsTheCheckedAddress() async throws {
        try await withReceiver { receiver, client, _ in
            // A name the test resolves to the loopback receiver, and a guard that allows it: the
            // request must go to the resolved address, not to a second lookup of the name.
            let sender = WebhookSender(
                client: client,
                resolve: { host in host == "hooks.example.test" ? [IPAddress("127.0.0.1")].compactMap { $0 } : [] },
                restrictedRange: { _ in nil })
            let outcome = try await sender.send(attempt("http://hooks.example.test:\(receiver.port)/ok", allowPrivate: false))
            #expect(outcome == .delivered(status: 204))
            let log = try await receiver.log(client: client)
            #expect(log.first?.host == "hooks.example.test:\(receiver.port)")
            #expect(log.first?.valid == true)
        }
    }
}
