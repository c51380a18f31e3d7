import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Inbound
import Logging
import NIOCore
import Storage
import Testing

/// A webhook listener on a real SQLite store and blob directory in a temp folder.
struct IngressFixture {
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    let directory: URL
    let store: SQLiteStore
    /// Arranged as the daemon arranges them: small blobs in the database, large ones in files.
    let blobs: TieredBlobStore
    let files: FileBlobStore
    let clock: ManualWallClock
    let app: Application<RouterResponder<IngressRequestContext>>

    init(maxBodyBytes: Int = 1024) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-ingress-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logger = Logger(label: "test")
        clock = ManualWallClock(Date(timeIntervalSince1970: 1_800_000_000))
        store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, clock: clock, logger: logger)
        files = try FileBlobStore(root: directory.appendingPathComponent("blobs").path)
        blobs = TieredBlobStore(small: SQLiteBlobStore(store: store), large: files)
        let resolve: (SecretRef) throws -> String = { ref in
            if case .value(let secret) = ref { return secret }
            throw SecretFormatError(reference: "\(ref)", reason: "test resolves inline values only")
        }
        let endpoints = [
            WebhookEndpoint(config: SourceConfig(id: "open", organization: "demo", auth: .none, maxBodyBytes: maxBodyBytes, route: nil), verifier: try WebhookVerifier(auth: .none, resolve: resolve)),
            WebhookEndpoint(config: SourceConfig(id: "signed", organization: "demo", auth: .standardWebhooks(secrets: [.value(Self.secret)], toleranceSeconds: 300), maxBodyBytes: 1024, route: nil), verifier: try WebhookVerifier(auth: .standardWebhooks(secrets: [.value(Self.secret)], toleranceSeconds: 300), resolve: resolve)),
            WebhookEndpoint(config: SourceConfig(id: "token", organization: "demo", auth: .bearer(tokens: [.value("s3cret")]), maxBodyBytes: 1024, route: nil), verifier: try WebhookVerifier(auth: .bearer(tokens: [.value("s3cret")]), resolve: resolve)),
        ]
        let committer = IntakeCommitter(store: store, blobs: blobs, clock: clock, maxBatch: 16, logger: logger)
        let router = Router(context: IngressRequestContext.self)
        WebhookIngress(directory: WebhookDirectory(endpoints), committer: committer, store: store, clock: clock, logger: logger).addRoutes(to: router)
        app = Application(router: router)
    }

    func signedHeaders(id: String, body: String, timestamp: Int? = nil) -> HTTPFields {
        let ts = timestamp ?? Int(clock.now().timeIntervalSince1970)
        return [
            .contentType: "application/json",
            HTTPField.Name("webhook-id")!: id,
            HTTPField.Name("webhook-timestamp")!: "\(ts)",
            HTTPField.Name("webhook-signature")!: standardSignature(secret: Self.secret, id: id, timestamp: ts, body: body),
        ]
    }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }
}

func json(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONValue.parse(Data(buffer.readableBytesView))
}

@Suite("Webhook ingress")
struct WebhookIngressTests {
    @Test func acceptedOnlyOnceDurable() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        try await fixture.app.test(.router) { client in
            let id = try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"name":"Ada"}"#)) { response in
                #expect(response.status == .accepted)
                let body = try json(response.body)
                #expect(body["status"]?.stringValue == "received")
                #expect(response.headers[.location] == body["status_url"]?.stringValue)
                return try #require(body["intake_id"]?.stringValue)
            }
            // The 202 means the row, its job and its raw bytes are already stored.
            let intake = try #require(try await fixture.store.intake(id: id))
            #expect(intake.source == "open" && intake.organization == "demo" && intake.status == .received)
            #expect(try await fixture.blobs.get(intake.rawBlob) == Data(#"{"name":"Ada"}"#.utf8))
            #expect(try await fixture.store.stats().total(.ready) == 1)
            try await client.execute(uri: "/hooks/open/intakes/\(id)", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["status"]?.stringValue == "received")
            }
            try await client.execute(uri: "/hooks/signed/intakes/\(id)", method: .get) { response in
                #expect(response.status == .notFound, "an intake is only visible under its own source")
            }
        }
    }

    @Test func signedWebhookAndIdempotentReplay() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        let body = #"{"event":"lead.created"}"#
        try await fixture.app.test(.router) { client in
            let first = try await client.execute(uri: "/hooks/signed", method: .post, headers: fixture.signedHeaders(id: "msg_1", body: body), body: ByteBuffer(string: body)) { response in
                #expect(response.status == .accepted)
                return try json(response.body)
            }
            #expect(first["duplicate"] == .bool(false))
            fixture.clock.advance(by: 60)
            let replay = try await client.execute(uri: "/hooks/signed", method: .post, headers: fixture.signedHeaders(id: "msg_1", body: body), body: ByteBuffer(string: body)) { response in
                #expect(response.status == .accepted)
                return try json(response.body)
            }
            #expect(replay["intake_id"] == first["intake_id"])
            #expect(replay["duplicate"] == .bool(true))
            #expect(try await fixture.store.stats().total(.ready) == 1, "a replay queues nothing")
        }
    }

    @Test func idempotencyKeySurvivesARestart() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        let headers: HTTPFields = [.contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "order-77"]
        let first = try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/hooks/open", method: .post, headers: headers, body: ByteBuffer(string: "{}")) { try json($0.body)["intake_id"] }
        }
        // A second listener over the same database file stands for the restarted daemon.
        let reopened = try SQLiteStore(path: fixture.directory.appendingPathComponent("db.sqlite").path, clock: fixture.clock, logger: Logger(label: "test"))
        let existing = try await reopened.intake(organization: "demo", dedupeKey: "open:idempotency-key:order-77")
        #expect(existing?.id == first?.stringValue)
        let second = try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/hooks/open", method: .post, headers: headers, body: ByteBuffer(string: "{}")) { try json($0.body)["intake_id"] }
        }
        #expect(first == second)
    }

    @Test func rejections() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        let body = #"{"a":1}"#
        try await fixture.app.test(.router) { client in
            @Sendable func expect(_ expected: HTTPResponse.Status, _ uri: String, _ headers: HTTPFields, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(response.status == expected, sourceLocation: sourceLocation)
                if response.status != .accepted {
                    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
                }
            }
            try await expect(.notFound, "/hooks/nope", [.contentType: "application/json"], body)
            try await expect(.contentTooLarge, "/hooks/open", [.contentType: "application/json"], String(repeating: "x", count: 2000))
            try await expect(.unsupportedMediaType, "/hooks/open", [.contentType: "text/plain"], "hello")
            try await expect(.badRequest, "/hooks/open", [.contentType: "application/json"], "{not json")
            try await expect(.badRequest, "/hooks/open", [.contentType: "application/json", HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 300)], body)
            // Signed source: unsigned, wrongly signed, stale, and malformed all get 401, never 500.
            try await expect(.unauthorized, "/hooks/signed", [.contentType: "application/json"], body)
            var wrong = fixture.signedHeaders(id: "msg_2", body: body)
            wrong[HTTPField.Name("webhook-signature")!] = "v1," + Data(repeating: 1, count: 32).base64EncodedString()
            try await expect(.unauthorized, "/hooks/signed", wrong, body)
            let stale = fixture.signedHeaders(id: "msg_3", body: body, timestamp: Int(fixture.clock.now().timeIntervalSince1970) - 600)
            try await expect(.unauthorized, "/hooks/signed", stale, body)
            var garbage = fixture.signedHeaders(id: "msg_4", body: body)
            garbage[HTTPField.Name("webhook-signature")!] = String(repeating: "v1,=== ", count: 500)
            try await expect(.unauthorized, "/hooks/signed", garbage, body)
            // A signature over different bytes than were sent.
            try await expect(.unauthorized, "/hooks/signed", fixture.signedHeaders(id: "msg_5", body: body), #"{"a":2}"#)
            // Authentication comes before content checks: an unsigned junk body is still 401.
            try await expect(.unauthorized, "/hooks/signed", [.contentType: "text/plain"], "junk")
            try await expect(.unauthorized, "/hooks/token", [.contentType: "application/json", .authorization: "Bearer wrong"], body)
            try await expect(.accepted, "/hooks/token", [.contentType: "application/json", .authorization: "Bearer s3cret"], body)
        }
        #expect(try await fixture.store.counts().intakesByStatus["received"] == 1, "only the one good request was stored")
    }

    @Test func declaredLengthOverTheLimitIsRefusedBeforeReading() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        try await fixture.app.test(.live) { client in
            try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: String(repeating: " ", count: 5000) + "{}")) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .accepted, "the listener still serves after a refused body")
            }
        }
    }

    @Test func multipartFilesBecomeDocuments() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        let body = WebhookPayloadTests.multipart(boundary: "b0und", parts: [
            ("Content-Disposition: form-data; name=\"name\"", "Ada"),
            ("Content-Disposition: form-data; name=\"doc\"; filename=\"invoice.pdf\"\r\nContent-Type: application/pdf", "%PDF-1.7 test"),
        ])
        try await fixture.app.test(.router) { client in
            let id = try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "multipart/form-data; boundary=b0und"], body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .accepted)
                return try #require(try json(response.body)["intake_id"]?.stringValue)
            }
            let documents = try await fixture.store.documents(intakeID: id)
            #expect(documents.count == 1)
            let document = try #require(documents.first)
            #expect(document.filename == "invoice.pdf" && document.declaredType == "application/pdf" && document.status == .pending)
            #expect(try await fixture.blobs.get(document.blob) == Data("%PDF-1.7 test".utf8))
        }
    }

    @Test func largeUploadsGoToFilesSmallBodiesInline() async throws {
        let fixture = try IngressFixture(maxBodyBytes: 512 * 1024)
        defer { fixture.cleanup() }
        let big = String(repeating: "A", count: SQLiteBlobStore.sizeLimit + 1)
        let body = WebhookPayloadTests.multipart(boundary: "b0und", parts: [
            ("Content-Disposition: form-data; name=\"name\"", "Ada"),
            ("Content-Disposition: form-data; name=\"scan\"; filename=\"scan.tif\"\r\nContent-Type: image/tiff", big),
        ])
        try await fixture.app.test(.router) { client in
            let response = try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "multipart/form-data; boundary=b0und"], body: ByteBuffer(bytes: body))
            #expect(response.status == .accepted)
            let id = try #require(try json(response.body)["intake_id"]?.stringValue)
            let intake = try #require(try await fixture.store.intake(id: id))
            let document = try #require(try await fixture.store.documents(intakeID: id).first)
            let rawInFiles = try await fixture.files.contains(intake.rawBlob)
            let fileInFiles = try await fixture.files.contains(document.blob)
            #expect(rawInFiles && fileInFiles, "the raw multipart body (\(intake.rawSize) bytes) and the file are over the inline limit")
            #expect(try await fixture.blobs.get(document.blob) == Data(big.utf8))
        }
        let smallFixture = try IngressFixture()
        defer { smallFixture.cleanup() }
        try await smallFixture.app.test(.router) { client in
            let response = try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
            let id = try #require(try json(response.body)["intake_id"]?.stringValue)
            let intake = try #require(try await smallFixture.store.intake(id: id))
            let inFiles = try await smallFixture.files.contains(intake.rawBlob)
            #expect(!inFiles, "a small body is stored in the database with its intake")
            #expect(try await SQLiteBlobStore(store: smallFixture.store).get(intake.rawBlob) == Data("{}".utf8))
        }
    }

    @Test func concurrentSubmissionsAreGroupCommitted() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        try await fixture.app.test(.router) { client in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"n":\#(index)}"#)) { $0.status }
                    }
                }
                for try await status in group { #expect(status == .accepted) }
            }
        }
        #expect(try await fixture.store.counts().intakesByStatus["received"] == 50)
        #expect(try await fixture.store.stats().total(.ready) == 50)
    }
}

/// Injects the failure of a disk or database that stopped taking writes.
struct UnavailableBlobStore: BlobStore {
    func reference(for data: Data) -> BlobRef { BlobRef(sha256: "", size: data.count) }
    func put(_ data: Data) async throws -> BlobRef { throw StoreError.unavailable("disk I/O error (injected)") }
    func putMany(_ blobs: [Data]) async throws -> [BlobRef] { throw StoreError.unavailable("disk I/O error (injected)") }
    func get(_ sha256: String) async throws -> Data { throw StoreError.unavailable("disk I/O error (injected)") }
    func contains(_ sha256: String) async throws -> Bool { throw StoreError.unavailable("disk I/O error (injected)") }
}

@Suite("Webhook ingress when storage fails")
struct WebhookIngressStorageFailureTests {
    @Test func unavailableStorageAnswers503AndStoresNothing() async throws {
        let fixture = try IngressFixture()
        defer { fixture.cleanup() }
        let logger = Logger(label: "test")
        let committer = IntakeCommitter(store: fixture.store, blobs: UnavailableBlobStore(), clock: fixture.clock, maxBatch: 8, logger: logger)
        let endpoint = WebhookEndpoint(config: SourceConfig(id: "open", organization: "demo", auth: .none, maxBodyBytes: 1024, route: nil), verifier: try WebhookVerifier(auth: .none) { _ in "" })
        let router = Router(context: IngressRequestContext.self)
        WebhookIngress(directory: WebhookDirectory([endpoint]), committer: committer, store: fixture.store, clock: fixture.clock, logger: logger).addRoutes(to: router)
        try await Application(router: router).test(.router) { client in
            let response = try await client.execute(uri: "/hooks/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "5")
            let text = String(buffer: response.body)
            #expect(!text.contains("injected"), "internal error text must not reach the client: \(text)")
        }
        #expect(try await fixture.store.counts().intakesByStatus.values.reduce(0, +) == 0)
    }
}
