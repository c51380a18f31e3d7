import Actions
import Foundation
import Testing

@Suite("Standard Webhooks signing")
struct WebhookSignerTests {
    /// The example from the Standard Webhooks reference libraries (and Svix's documentation):
    /// a vector computed outside this code base.
    @Test func matchesThePublishedExample() throws {
        let signer = try WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func prefixIsOptionalAndBadSecretsAreRejected() throws {
        let with = try WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let without = try WebhookSigner(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let body = Data("x".utf8)
        #expect(with.signature(messageID: "a", timestamp: 1, body: body) == without.signature(messageID: "a", timestamp: 1, body: body))
        #expect(with.signature(messageID: "a", timestamp: 1, body: body) != with.signature(messageID: "a", timestamp: 2, body: body))
        #expect(throws: WebhookSigner.InvalidSecret.self) { try WebhookSigner(secret: "whsec_not base64!") }
        #expect(throws: WebhookSigner.InvalidSecret.self) { try WebhookSigner(secret: "whsec_") }
    }

    @Test func retryAfterParsing() {
        let now = Date(timeIntervalSince1970: 1_000_000_000)
        #expect(WebhookSender.retryAfterSeconds("7", now: now) == 7)
        #expect(WebhookSender.retryAfterSeconds("999999", now: now) == WebhookSender.maxRetryAfter)
        #expect(WebhookSender.retryAfterSeconds("Sun, 09 Sep 2001 01:47:10 GMT", now: now) == 30)
        #expect(WebhookSender.retryAfterSeconds("soon", now: now) == nil)
        #expect(WebhookSender.retryAfterSeconds("-1", now: now) == nil)
    }
}
