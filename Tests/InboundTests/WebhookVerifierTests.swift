import Core
import Crypto
import Foundation
import HTTPTypes
import Inbound
import Testing

/// Signs like a Standard Webhooks sender.
func standardSignature(secret: String, id: String, timestamp: Int, body: String) -> String {
    let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst("whsec_".count))) ?? Data())
    let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: key)
    return "v1," + Data(mac).base64EncodedString()
}

func fields(_ pairs: [String: String]) -> HTTPFields {
    var headers = HTTPFields()
    for (name, value) in pairs {
        if let field = HTTPField.Name(name) { headers[field] = value }
    }
    return headers
}

@Suite("Webhook signatures")
struct WebhookVerifierTests {
    // The example published with the Standard Webhooks specification.
    static let specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let specID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let specTimestamp = 1_614_265_330
    static let specBody = #"{"test": 2432232314}"#
    static let specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static let specNow = Date(timeIntervalSince1970: TimeInterval(specTimestamp))

    func standard(_ secrets: [String] = [specSecret], tolerance: Int = 300) throws -> WebhookVerifier {
        try WebhookVerifier(auth: .standardWebhooks(secrets: secrets.map { .value($0) }, toleranceSeconds: tolerance)) { ref in
            guard case .value(let secret) = ref else { throw SecretFormatError(reference: "\(ref)", reason: "unexpected") }
            return secret
        }
    }

    func specHeaders(signature: String = specSignature, id: String = specID, timestamp: String = "\(specTimestamp)") -> HTTPFields {
        fields(["webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature])
    }

    @Test func publishedExampleVerifies() throws {
        #expect(standardSignature(secret: Self.specSecret, id: Self.specID, timestamp: Self.specTimestamp, body: Self.specBody) == Self.specSignature)
        let result = try standard().verify(headers: specHeaders(), body: Data(Self.specBody.utf8), now: Self.specNow)
        #expect(result == .success(VerifiedWebhook(webhookID: Self.specID, scheme: "standard-webhooks")))
    }

    @Test func anyOfSeveralSignaturesAndRotatedSecrets() throws {
        let other = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
        let verifier = try standard([other, Self.specSecret])
        let headers = specHeaders(signature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,ignored \(Self.specSignature)")
        #expect(verifier.verify(headers: headers, body: Data(Self.specBody.utf8), now: Self.specNow) == .success(VerifiedWebhook(webhookID: Self.specID, scheme: "standard-webhooks")))
    }

    @Test func tamperedBodyOrIdFails() throws {
        let verifier = try standard()
        #expect(verifier.verify(headers: specHeaders(), body: Data(#"{"test": 2432232315}"#.utf8), now: Self.specNow) == .failure(.noMatchingSignature))
        #expect(verifier.verify(headers: specHeaders(id: "msg_other"), body: Data(Self.specBody.utf8), now: Self.specNow) == .failure(.noMatchingSignature))
    }

    @Test func timestampTolerance() throws {
        let verifier = try standard()
        let body = Data(Self.specBody.utf8)
        #expect(verifier.verify(headers: specHeaders(), body: body, now: Self.specNow.addingTimeInterval(299)) == .success(VerifiedWebhook(webhookID: Self.specID, scheme: "standard-webhooks")))
        #expect(verifier.verify(headers: specHeaders(), body: body, now: Self.specNow.addingTimeInterval(301)) == .failure(.timestampOutOfTolerance))
        #expect(verifier.verify(headers: specHeaders(), body: body, now: Self.specNow.addingTimeInterval(-301)) == .failure(.timestampOutOfTolerance))
    }

    static let malformed: [(String, [String: String])] = [
        ("no comma", ["webhook-signature": "v1g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="]),
        ("bad base64", ["webhook-signature": "v1,@@@not-base64@@@"]),
        ("short mac", ["webhook-signature": "v1,AAAA"]),
        ("thousands of signatures", ["webhook-signature": Array(repeating: specSignature, count: 2000).joined(separator: " ")]),
        ("huge header", ["webhook-signature": "v1," + String(repeating: "A", count: 100_000)]),
        ("only unknown versions", ["webhook-signature": "v2,abc v1a,def"]),
        ("empty signature", ["webhook-signature": ""]),
        ("timestamp not a number", ["webhook-timestamp": "yesterday"]),
        ("timestamp overflow", ["webhook-timestamp": "99999999999999999999999"]),
        ("empty id", ["webhook-id": ""]),
        ("huge id", ["webhook-id": String(repeating: "x", count: 5000)]),
    ]

    @Test(arguments: malformed.indices)
    func malformedHeadersAreRejected(index: Int) throws {
        let (name, overrides) = Self.malformed[index]
        var pairs = ["webhook-id": Self.specID, "webhook-timestamp": "\(Self.specTimestamp)", "webhook-signature": Self.specSignature]
        for (key, value) in overrides { pairs[key] = value }
        let result = try standard().verify(headers: fields(pairs), body: Data(Self.specBody.utf8), now: Self.specNow)
        guard case .failure = result else {
            Issue.record("\(name) was accepted")
            return
        }
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func missingHeaders(name: String) throws {
        var pairs = ["webhook-id": Self.specID, "webhook-timestamp": "\(Self.specTimestamp)", "webhook-signature": Self.specSignature]
        pairs[name] = nil
        #expect(try standard().verify(headers: fields(pairs), body: Data(Self.specBody.utf8), now: Self.specNow) == .failure(.missingHeader(name)))
    }

    @Test func secretWithoutBase64IsAConfigError() {
        #expect(throws: SecretFormatError.self) { try standard(["whsec_***"]) }
    }

    @Test func githubSignature() throws {
        // The example from GitHub's documentation on validating webhook deliveries.
        let verifier = try WebhookVerifier(auth: .github(secrets: [.value("It's a Secret to Everybody")])) { _ in "It's a Secret to Everybody" }
        let body = Data("Hello, World!".utf8)
        let good = fields(["x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"])
        #expect(verifier.verify(headers: good, body: body, now: Date()) == .success(VerifiedWebhook(webhookID: nil, scheme: "github")))
        let wrong = fields(["x-hub-signature-256": "sha256=657107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"])
        #expect(verifier.verify(headers: wrong, body: body, now: Date()) == .failure(.noMatchingSignature))
        #expect(verifier.verify(headers: fields(["x-hub-signature-256": "sha1=abc"]), body: body, now: Date()) == .failure(.malformedHeader("x-hub-signature-256")))
        #expect(verifier.verify(headers: fields(["x-hub-signature-256": "sha256=zz"]), body: body, now: Date()) == .failure(.malformedHeader("x-hub-signature-256")))
        #expect(verifier.verify(headers: HTTPFields(), body: body, now: Date()) == .failure(.missingHeader("x-hub-signature-256")))
    }

    @Test func bearerToken() throws {
        let verifier = try WebhookVerifier(auth: .bearer(tokens: [.value("a"), .value("b")])) { ref in
            guard case .value(let token) = ref else { return "" }
            return token == "a" ? "old-token" : "new-token"
        }
        #expect(verifier.verify(headers: fields(["authorization": "Bearer new-token"]), body: Data(), now: Date()) == .success(VerifiedWebhook(webhookID: nil, scheme: "bearer")))
        #expect(verifier.verify(headers: fields(["authorization": "bearer old-token"]), body: Data(), now: Date()) == .success(VerifiedWebhook(webhookID: nil, scheme: "bearer")))
        #expect(verifier.verify(headers: fields(["authorization": "Bearer new-token-x"]), body: Data(), now: Date()) == .failure(.badToken))
        #expect(verifier.verify(headers: fields(["authorization": "Basic abc"]), body: Data(), now: Date()) == .failure(.malformedHeader("authorization")))
        #expect(verifier.verify(headers: HTTPFields(), body: Data(), now: Date()) == .failure(.missingHeader("authorization")))
    }
}
