import Core
import Foundation
import Inbound
import Testing

@Suite("Webhook body decoding")
struct WebhookPayloadTests {
    @Test func json() throws {
        let decoded = try WebhookPayload.decode(contentType: "application/json; charset=utf-8", body: Data(#"{"name": "Ada", "n": 2}"#.utf8))
        #expect(decoded.payload == .object(["name": .string("Ada"), "n": .number(2)]))
        #expect(decoded.files.isEmpty)
        let vendor = try WebhookPayload.decode(contentType: "application/vnd.acme+json", body: Data("[1]".utf8))
        #expect(vendor.payload == .array([.number(1)]))
    }

    @Test(arguments: [
        (" Application/JSON ; charset=utf-8", "application/json"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        ("\tapplication/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("", ""),
    ])
    func mediaTypes(header: String, type: String) {
        #expect(WebhookPayload.mediaType(header) == type)
    }

    @Test func malformedJSON() {
        #expect(throws: PayloadError.malformed("body is not valid JSON")) {
            try WebhookPayload.decode(contentType: "application/json", body: Data("{\"a\": ".utf8))
        }
    }

    /// Intake checks JSON with `accept` and processing decodes it with `decode`: a body one takes
    /// and the other refuses would be answered 202 and then fail. Edge cases of RFC 8259 and of
    /// the two Foundation entry points: both must agree on every one.
    @Test(arguments: [
        "1e400", #"{"a":1e400}"#, #""\ud800""#, "{} x", #"{"a":1,"a":2}"#, "01", "NaN", "-0", "1.", "", "  ",
        #""a\u0000b""#, "123456789012345678901234567890", "[1,]", #"{"a":1,}"#, "'a'", "true", "null", #"{"a":[{"b":null}]}"#,
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        "\u{FEFF}{}", "{\"a\":\"\u{1}\"}",
    ])
    func acceptAgreesWithDecode(body: String) {
        let data = Data(body.utf8)
        let decodes = (try? WebhookPayload.decode(contentType: "application/json", body: data)) != nil
        let accepted = (try? WebhookPayload.accept(contentType: "application/json", body: data)) != nil
        #expect(decodes == accepted, "decode: \(decodes), accept: \(accepted)")
    }

    @Test func acceptRefusesWhatDecodeRefuses() throws {
        for bytes in [Data([0x22, 0xFF, 0x22]), Data("{\"a\": ".utf8)] {
            #expect(throws: PayloadError.malformed("body is not valid JSON")) {
                try WebhookPayload.accept(contentType: "application/vnd.acme+json", body: bytes)
            }
        }
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
        let files = try WebhookPayload.accept(contentType: "multipart/form-data; boundary=b", body: Data(multipart.utf8))
        #expect(files.map(\.filename) == ["a.txt"])
        #expect(throws: PayloadError.unsupportedMediaType("text/plain")) {
            try WebhookPayload.accept(contentType: "text/plain", body: Data("x".utf8))
        }
    }

    @Test func urlEncodedForm() throws {
        let body = "name=Ada+Lovelace&email=ada%40example.com&interest=a&interest=b&empty=&caf%C3%A9=cr%C3%A8me"
        let decoded = try WebhookPayload.decode(contentType: "application/x-www-form-urlencoded", body: Data(body.utf8))
        #expect(decoded.payload == .object([
            "name": .string("Ada Lovelace"),
            "email": .string("ada@example.com"),
            "interest": .array([.string("a"), .string("b")]),
            "empty": .string(""),
            "café": .string("crème"),
        ]))
    }

    @Test func unsupportedTypes() {
        for type in ["text/plain", "application/xml", "", "image/png"] {
            #expect(!WebhookPayload.isSupported(type))
            #expect(throws: PayloadError.self) { try WebhookPayload.decode(contentType: type, body: Data("x".utf8)) }
        }
    }

    static func multipart(boundary: String = "XyZ", parts: [(headers: String, body: String)], close: Bool = true) -> Data {
        var text = ""
        for part in parts {
            text += "--\(boundary)\r\n\(part.headers)\r\n\r\n\(part.body)\r\n"
        }
        if close { text += "--\(boundary)--\r\n" }
        return Data(text.utf8)
    }

    @Test func multipartFieldsAndFiles() throws {
        let body = Self.multipart(parts: [
            ("Content-Disposition: form-data; name=\"name\"", "Ada"),
            ("Content-Disposition: form-data; name=\"attachment\"; filename=\"../../etc/invoice 42.pdf\"\r\nContent-Type: application/pdf", "%PDF-1.4 fake"),
            ("Content-Disposition: form-data; name=\"scan\"; filename=\"a.png\"; filename*=UTF-8''R%C3%A9sum%C3%A9.png", "png bytes"),
        ])
        let decoded = try WebhookPayload.decode(contentType: "multipart/form-data; boundary=XyZ", body: body)
        #expect(decoded.payload == .object(["name": .string("Ada")]))
        #expect(decoded.files.count == 2)
        #expect(decoded.files.first?.filename == "invoice 42.pdf")
        #expect(decoded.files.first?.declaredType == "application/pdf")
        #expect(decoded.files.first?.data == Data("%PDF-1.4 fake".utf8))
        #expect(decoded.files.last?.filename == "Résumé.png")
        #expect(decoded.files.last?.declaredType == "application/octet-stream")
    }

    @Test func brokenMultipartIsRejectedNotCrashed() {
        let cases: [(String, Data)] = [
            ("multipart/form-data", Self.multipart(parts: [("Content-Disposition: form-data; name=\"a\"", "1")])),
            ("multipart/form-data; boundary=", Self.multipart(parts: [("Content-Disposition: form-data; name=\"a\"", "1")])),
            ("multipart/form-data; boundary=XyZ", Self.multipart(parts: [("Content-Disposition: form-data; name=\"a\"", "1")], close: false)),
            ("multipart/form-data; boundary=XyZ", Self.multipart(parts: [("Content-Type: text/plain", "no disposition")])),
            ("multipart/form-data; boundary=XyZ", Data("garbage without any boundary".utf8)),
            ("multipart/form-data; boundary=" + String(repeating: "b", count: 80), Data()),
        ]
        for (type, body) in cases {
            #expect(throws: PayloadError.self, "\(type)") { try WebhookPayload.decode(contentType: type, body: body) }
        }
    }

    @Test func tooManyParts() {
        let parts = (0...WebhookPayload.maxParts).map { ("Content-Disposition: form-data; name=\"f\($0)\"", "x") }
        #expect(throws: PayloadError.self) {
            try WebhookPayload.decode(contentType: "multipart/form-data; boundary=XyZ", body: Self.multipart(parts: parts))
        }
    }

    @Test(arguments: [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\ada\\report.pdf", "report.pdf"),
        ("../../.ssh/id_rsa", "id_rsa"),
        ("...hidden", "hidden"),
        ("bad\u{0}name\u{7}.txt", "badname.txt"),
    ])
    func filenamesAreSanitised(raw: String, clean: String) {
        #expect(Filename.sanitize(raw) == clean)
    }

    @Test func headerParameters() {
        let parsed = HeaderParameters.parse(#"form-data; name="a \"quoted\" name"; filename=plain.txt; x=1"#)
        #expect(parsed.value == "form-data")
        #expect(parsed.parameters["name"] == #"a "quoted" name"#)
        #expect(parsed.filename == "plain.txt")
        #expect(parsed.parameters["x"] == "1")
    }

    @Test func factsFromAFormSubmission() throws {
        let raw = Data("name=Ada&email=ada%40example.com&subject=Hi&message=Call+me".utf8)
        let intake = Intake(id: "in_1", organization: "demo", source: "form", sourceKind: .webhook, receivedAt: Date(), dedupeKey: "k", rawBlob: "x", rawSize: raw.count, contentType: "application/x-www-form-urlencoded")
        let facts = try FactsBuilder.facts(for: intake, raw: raw, documents: [])
        #expect(facts.from == "ada@example.com")
        #expect(facts.subject == "Hi")
        #expect(facts.text == "Call me")
        #expect(facts.payload["name"]?.stringValue == "Ada")
    }

    @Test func undecodableStoredPayloadIsAPermanentFailure() {
        let intake = Intake(id: "in_1", organization: "demo", source: "form", sourceKind: .webhook, receivedAt: Date(), dedupeKey: "k", rawBlob: "x", rawSize: 1, contentType: "application/json")
        #expect(throws: PermanentJobError.self) { try FactsBuilder.facts(for: intake, raw: Data("{".utf8), documents: []) }
    }
}
