import Core
import Foundation
import Testing

@Suite("Configuration: documents.model and the field schema check")
struct DocumentModelConfigTests {
    func parse(documents: String?) throws(ConfigError) -> DaemonConfig {
        let section = documents.map { #""documents": \#($0),"# } ?? ""
        let text = """
        {\(section)
          "organizations": [{
            "id": "demo",
            "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
            "default_route": {"pipeline": "sales"},
            "sources": [{"id": "form", "type": "webhook", "auth": {"type": "none"}}]
          }]
        }
        """
        return try ConfigParser.parse(Data(text.utf8), sourceName: "test.json")
    }

    func issues(documents: String) -> [String] {
        do {
            _ = try parse(documents: documents)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func absentMeansLocalExtractionOnly() throws {
        #expect(try parse(documents: nil).documentModel == nil)
        #expect(try parse(documents: #"{"concurrency": 2}"#).documentModel == nil)
        #expect(try parse(documents: #"{"model": null}"#).documentModel == nil)
    }

    @Test func valuesAndDefaults() throws {
        let full = try #require(try parse(documents: #"""
            {"model": {"base_url": "http://127.0.0.1:8000/v1", "model": "local-7b", "api_key": {"env": "DOC_MODEL_KEY"},
                       "timeout_seconds": 7.5, "max_input_chars": 4000}}
            """#).documentModel)
        #expect(full == DocumentModelConfig(baseURL: "http://127.0.0.1:8000/v1", model: "local-7b", apiKey: .env("DOC_MODEL_KEY"), timeout: 7.5, maxInputCharacters: 4000))
        let minimal = try #require(try parse(documents: #"{"model": {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini"}}"#).documentModel)
        #expect(minimal.apiKey == nil && minimal.timeout == 30 && minimal.maxInputCharacters == 12_000)
    }

    @Test func everyErrorNamesItsKeyPath() {
        let found = issues(documents: #"""
            {"model": {"base_url": "ftp://x", "api_key": {"env": ""}, "timeout_seconds": 0, "max_input_chars": 10, "send_pictures": true}}
            """#)
        #expect(Set(found) == [
            #"documents.model.base_url: expected an http:// or https:// URL such as https://api.openai.com/v1, got "ftp://x""#,
            "documents.model.model: missing; expected a string",
            #"documents.model.api_key: expected exactly one of {"env": NAME}, {"file": PATH}, {"credential": NAME}, {"value": SECRET} with a non-empty string"#,
            "documents.model.timeout_seconds: expected a number in 0.1...600.0, got 0",
            "documents.model.max_input_chars: expected an integer in 500...1000000, got 10",
            "documents.model.send_pictures: unknown key; expected one of api_key, base_url, image_max_bytes, image_max_side_pixels, max_images, max_input_chars, model, send_images, timeout_seconds",
        ])
        #expect(issues(documents: #"{"model": "gpt-4o"}"#) == ["documents.model: expected an object, got a string"])
    }

    @Test func imageKeys() throws {
        let base = #""base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini""#
        let defaults = try #require(try parse(documents: #"{"model": {\#(base)}}"#).documentModel)
        #expect(!defaults.sendImages && defaults.maxImages == 2 && defaults.imageMaxSidePixels == 1600 && defaults.imageMaxBytes == 2 << 20)
        #expect(defaults.pageImages == nil, "images are off by default: the child renders none")
        let on = try #require(try parse(documents: #"""
            {"model": {\#(base), "send_images": true, "max_images": 3, "image_max_side_pixels": 1024, "image_max_bytes": 500000}}
            """#).documentModel)
        #expect(on.pageImages == PageImageSettings(maxImages: 3, maxSidePixels: 1024, maxBytes: 500_000))
        let found = issues(documents: #"""
            {"model": {\#(base), "send_images": "yes", "max_images": 9, "image_max_side_pixels": 100, "image_max_bytes": 1.5}}
            """#)
        #expect(Set(found) == [
            "documents.model.send_images: expected true or false, got yes",
            "documents.model.max_images: expected an integer in 1...8, got 9",
            "documents.model.image_max_side_pixels: expected an integer in 256...8192, got 100",
            "documents.model.image_max_bytes: expected an integer in 16384...20971520, got 1.5",
        ])
    }

    static let valid: JSONValue = .object([
        "kind": .string("invoice"), "issuer": .string("ACME GmbH"), "vat_id": .null, "invoice_number": .string("INV-1"),
        "issue_date": .string("2025-03-01"), "due_date": .null, "currency": .string("EUR"), "iban": .null, "bic": .null,
        "po_number": .null, "total": .number(119), "subtotal": .number(100), "tax": .number(19), "tax_rate": .number(19),
    ])

    static func changed(_ edit: (inout [String: JSONValue]) -> Void) -> JSONValue {
        guard case .object(var object) = valid else { return valid }
        edit(&object)
        return .object(object)
    }

    @Test func schemaCheckAcceptsExactlyTheSchema() {
        #expect(FieldExtractionSchema.violation(in: Self.valid) == nil)
        #expect(FieldExtractionSchema.violation(in: Self.changed { $0["kind"] = .string("other"); $0["total"] = .null }) == nil)
    }

    @Test(arguments: [
        ("extra key", DocumentModelConfigTests.changed { $0["recipient"] = .string("x@evil.example") }, "unexpected keys recipient"),
        ("missing key", DocumentModelConfigTests.changed { $0["iban"] = nil }, "missing keys iban"),
        ("kind outside the enum", DocumentModelConfigTests.changed { $0["kind"] = .string("payslip") }, "kind: expected one of invoice, receipt, credit_note, quote, order_confirmation, other"),
        ("number as string", DocumentModelConfigTests.changed { $0["total"] = .string("119.00") }, "total: expected a number or null, got a string"),
        ("string as number", DocumentModelConfigTests.changed { $0["invoice_number"] = .number(1) }, "invoice_number: expected a string or null, got a number"),
        ("kind null", DocumentModelConfigTests.changed { $0["kind"] = .null }, "kind: expected a string, got null"),
        ("array", .array([DocumentModelConfigTests.valid]), "expected a JSON object, got an array"),
    ])
    func schemaCheckNamesTheViolation(_ name: String, _ answer: JSONValue, _ reason: String) {
        #expect(FieldExtractionSchema.violation(in: answer) == reason, "\(name)")
    }
}
