import Core
import Foundation
import Storage
import Testing

@Suite("FileBlobStore")
struct FileBlobStoreTests {
    /// SHA-256 of "hello".
    static let helloKey = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

    @Test func roundTrip() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let ref = try await blobs.put(Data("hello".utf8))
            #expect(ref == BlobRef(sha256: Self.helloKey, size: 5))
            #expect(try await blobs.get(ref.sha256) == Data("hello".utf8))
            #expect(try await blobs.contains(ref.sha256))
            #expect(FileManager.default.fileExists(atPath: "\(root)/2c/f2/\(Self.helloKey)"))

            // Another instance on the same root (a restart) sees it.
            #expect(try await FileBlobStore(root: root).get(Self.helloKey) == Data("hello".utf8))
        }
    }

    @Test func emptyBlob() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let ref = try await blobs.put(Data())
            #expect(ref == BlobRef(sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", size: 0))
            #expect(try await blobs.get(ref.sha256).isEmpty)
        }
    }

    @Test func sameContentSameKeyOneFile() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let first = try await blobs.put(Data("same bytes".utf8))
            let second = try await blobs.put(Data("same bytes".utf8))
            #expect(first == second)
            #expect(storedFiles(root) == [first.sha256])
        }
    }

    @Test func putManyStoresEachBlobOnce() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let existing = try await blobs.put(Data("already here".utf8))
            let batch = ["a", "b", "a", "already here"].map { Data($0.utf8) }

            let refs = try await blobs.putMany(batch)
            #expect(refs.count == 4)
            #expect(refs[0] == refs[2])
            #expect(refs[3] == existing)
            #expect(Set(refs.map(\.sha256)).count == 3)
            for (ref, data) in zip(refs, batch) {
                #expect(ref.size == data.count)
                #expect(try await blobs.get(ref.sha256) == data)
            }
            #expect(storedFiles(root) == Set(refs.map(\.sha256)))
            #expect(try await blobs.putMany([]).isEmpty)
        }
    }

    @Test func missingBlobIsNotFound() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            await expectStoreError(.notFound) { try await blobs.get(Self.helloKey) }
            #expect(try await !blobs.contains(Self.helloKey))
        }
    }

    @Test(arguments: ["../../etc/passwd", "", "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", String(Self.helloKey.dropLast())])
    func malformedKeyIsRejected(key: String) async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            await expectStoreError(.invalid) { try await blobs.get(key) }
            await expectStoreError(.invalid) { try await blobs.contains(key) }
        }
    }

    @Test func noTemporaryFilesLeftBehind() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            _ = try await blobs.put(Data("one".utf8))
            _ = try await blobs.put(Data("one".utf8))
            _ = try await blobs.putMany((0..<20).map { Data("blob \($0)".utf8) })
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
        }
    }

    @Test func unwritableRootIsUnavailable() async throws {
        try await withTemporaryDirectory { root in
            // A regular file where the root directory should be.
            let file = root + "/not-a-directory"
            #expect(FileManager.default.createFile(atPath: file, contents: Data()))
            let error = #expect(throws: StoreError.self) { try FileBlobStore(root: file + "/blobs") }
            #expect(error?.kind == .unavailable)
        }
    }

    /// Names of the blob files under `root`, temporaries excluded.
    private func storedFiles(_ root: String) -> Set<String> {
        let paths = FileManager.default.subpaths(atPath: root) ?? []
        return Set(paths.filter { !$0.hasPrefix("tmp") && $0.split(separator: "/").count == 3 }.map { String($0.split(separator: "/")[2]) })
    }
}

@Suite("FileBlobStore housekeeping")
struct FileBlobStoreHousekeepingTests {
    @Test func abandonedTemporaryFilesAreSweptFreshOnesKept() async throws {
        try await withTemporaryDirectory { path in
            let store = try FileBlobStore(root: path + "/blobs")
            let old = path + "/blobs/tmp/abandoned"
            let fresh = path + "/blobs/tmp/in-flight"
            #expect(FileManager.default.createFile(atPath: old, contents: Data("x".utf8)))
            #expect(FileManager.default.createFile(atPath: fresh, contents: Data("y".utf8)))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: old)
            let kept = try await store.put(Data("kept".utf8))
            #expect(store.removeAbandonedTemporaryFiles() == 1)
            #expect(!FileManager.default.fileExists(atPath: old))
            #expect(FileManager.default.fileExists(atPath: fresh))
            #expect(try await store.get(kept.sha256) == Data("kept".utf8), "stored blobs are never touched")
        }
    }
}

@Suite("Streamed blob writes")
struct BlobWriterTests {
    /// Deterministic bytes that do not repeat in short cycles.
    static func bytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Data {
        var state = seed
        var data = Data(count: count)
        data.withUnsafeMutableBytes { buffer in
            for index in 0..<buffer.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[index] = UInt8(truncatingIfNeeded: state)
            }
        }
        return data
    }

    @Test func piecesLandUnderTheSameAddressAsPut() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let data = Self.bytes(3_000_001)
            let writer = try blobs.makeWriter()
            var offset = 0
            for size in [1, 65_536, 1 << 20, 0, 7] {
                try writer.write(data.subdata(in: offset..<offset + size))
                offset += size
            }
            try writer.write(data.subdata(in: offset..<data.count))
            #expect(writer.bytesWritten == data.count)
            let ref = try await writer.finish()
            #expect(ref == blobs.reference(for: data))
            #expect(try await blobs.get(ref.sha256) == data)
            let url = try #require(try await blobs.fileURL(for: ref.sha256))
            #expect(try Data(contentsOf: url, options: .alwaysMapped) == data)
            // Nothing left in tmp; writing the same bytes again keeps the one file.
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
            let again = try blobs.makeWriter()
            try again.write(data)
            try again.seal()
            #expect(try await again.finish() == ref)
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
            await #expect(throws: StoreError.self) { try await again.finish() }
        }
    }

    @Test func discardedOrDroppedWritersLeaveNothing() async throws {
        try await withTemporaryDirectory { root in
            let blobs = try FileBlobStore(root: root)
            let writer = try blobs.makeWriter()
            try writer.write(Data("partial".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").count == 1)
            writer.discard()
            #expect(throws: StoreError.self) { try writer.write(Data("more".utf8)) }
            do {
                let dropped = try blobs.makeWriter()
                try dropped.write(Data("never finished".utf8))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
            #expect(try await blobs.fileURL(for: blobs.reference(for: Data("partial".utf8)).sha256) == nil)
        }
    }

    @Test func tieredStoreStreamsToTheFileTier() async throws {
        try await withTemporaryDirectory { path in
            let store = try SQLiteStore(path: path + "/db.sqlite", logger: .quiet)
            let files = try FileBlobStore(root: path + "/blobs")
            let tiered = TieredBlobStore(small: SQLiteBlobStore(store: store), large: files)
            // Even a small streamed blob goes to files: its size is unknown when writing starts.
            let writer = try tiered.makeWriter()
            try writer.write(Data("tiny".utf8))
            let ref = try await writer.finish()
            #expect(try await files.contains(ref.sha256))
            #expect(try await tiered.get(ref.sha256) == Data("tiny".utf8))
            #expect(try await tiered.fileURL(for: ref.sha256) != nil)
            // A blob in the small tier has no file.
            let small = try await tiered.put(Data("inline".utf8))
            #expect(try await tiered.fileURL(for: small.sha256) == nil)
        }
    }

    @Test func storesWithoutFilesCollectThePieces() async throws {
        try await withTemporaryDirectory { path in
            let inline = SQLiteBlobStore(store: try SQLiteStore(path: path + "/db.sqlite", logger: .quiet))
            let writer = try inline.makeWriter()
            try writer.write(Data("ab".utf8))
            try writer.write(Data("c".utf8))
            let ref = try await writer.finish()
            #expect(try await inline.get(ref.sha256) == Data("abc".utf8))
        }
    }
}
