import Core
import Foundation
import Logging
import Storage
import Testing

@Suite("Inline and tiered blobs")
struct TieredBlobStoreTests {
    func withStores<T>(_ body: (SQLiteBlobStore, FileBlobStore, String) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { path in
            let store = try SQLiteStore(path: path + "/db.sqlite", logger: .quiet)
            return try await body(SQLiteBlobStore(store: store), try FileBlobStore(root: path + "/blobs"), path)
        }
    }

    @Test func inlineRoundTripAndDedupe() async throws {
        try await withStores { inline, _, _ in
            let refs = try await inline.putMany([Data("a".utf8), Data("b".utf8), Data("a".utf8)])
            #expect(refs[0] == refs[2])
            #expect(refs[0].sha256 == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb")
            #expect(try await inline.get(refs[1].sha256) == Data("b".utf8))
            #expect(try await inline.contains(refs[0].sha256))
            await #expect(throws: StoreError.self) { try await inline.get(String(repeating: "0", count: 64)) }
        }
    }

    @Test func inlineBlobsSurviveReopening() async throws {
        try await withTemporaryDirectory { path in
            let ref = try await SQLiteBlobStore(store: SQLiteStore(path: path + "/db.sqlite", logger: .quiet)).put(Data("durable".utf8))
            let reopened = SQLiteBlobStore(store: try SQLiteStore(path: path + "/db.sqlite", logger: .quiet))
            #expect(try await reopened.get(ref.sha256) == Data("durable".utf8))
        }
    }

    @Test func sizeDecidesTheTierAndOrderIsKept() async throws {
        try await withStores { inline, files, path in
            let tiered = TieredBlobStore(small: inline, large: files, smallLimit: 4)
            let payloads = [Data("big-one".utf8), Data("tiny".utf8), Data("another big".utf8), Data("s".utf8)]
            let refs = try await tiered.putMany(payloads)
            #expect(refs.map(\.size) == payloads.map(\.count))
            let tinyInline = try await inline.contains(refs[1].sha256), tinyInFiles = try await files.contains(refs[1].sha256)
            #expect(tinyInline && !tinyInFiles)
            let bigInFiles = try await files.contains(refs[0].sha256), bigInline = try await inline.contains(refs[0].sha256)
            #expect(bigInFiles && !bigInline)
            for (ref, payload) in zip(refs, payloads) {
                #expect(try await tiered.get(ref.sha256) == payload)
                #expect(try await tiered.contains(ref.sha256))
            }
            for payload in payloads {
                #expect(tiered.reference(for: payload) == files.reference(for: payload))
                #expect(tiered.reference(for: payload) == inline.reference(for: payload))
            }
            #expect(zip(refs, payloads).allSatisfy { $0 == tiered.reference(for: $1) }, "the address without storing is the address storing gives")
            let single = try await tiered.put(Data("xy".utf8))
            #expect(try await inline.get(single.sha256) == Data("xy".utf8))
            #expect(FileManager.default.fileExists(atPath: path + "/blobs"))
        }
    }

    @Test func missingEverywhereIsNotFound() async throws {
        try await withStores { inline, files, _ in
            let tiered = TieredBlobStore(small: inline, large: files)
            await #expect(throws: StoreError.notFound("blob \(String(repeating: "a", count: 64))")) {
                try await tiered.get(String(repeating: "a", count: 64))
            }
        }
    }
}
