public import Core
public import Foundation
import GRDB

/// Blobs kept in the SQLite database (table `blobs`), content-addressed like the file store.
/// A batch is one transaction, so however many small bodies arrive together they cost one
/// fsync — the file store pays one per file (about 2.5 ms each on the disks we measured).
public struct SQLiteBlobStore: BlobStore {
    let store: SQLiteStore

    /// Larger blobs belong on the filesystem: the database is not meant to carry attachments.
    public static let sizeLimit = 64 * 1024

    public init(store: SQLiteStore) {
        self.store = store
    }

    public func reference(for data: Data) -> BlobRef { Blob(data).ref }

    public func put(_ data: Data) async throws -> BlobRef {
        try await putMany([data])[0]
    }

    public func putMany(_ blobs: [Data]) async throws -> [BlobRef] {
        let prepared = blobs.map(Blob.init)
        guard !prepared.isEmpty else { return [] }
        try await store.write("storing blobs") { db in
            try Self.insert(prepared, in: db)
        }
        return prepared.map(\.ref)
    }

    /// Inserts blobs in the caller's transaction; present ones are left as they are.
    static func insert(_ blobs: [Blob], in db: Database) throws {
        guard !blobs.isEmpty else { return }
        let statement = try db.cachedStatement(sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING")
        for blob in blobs {
            try statement.execute(arguments: [blob.ref.sha256, blob.ref.size, blob.data])
        }
    }

    public func get(_ sha256: String) async throws -> Data {
        let data = try await store.read("reading a blob") { db in try Self.fetch(sha256, in: db) }
        guard let data else { throw StoreError.notFound("blob \(sha256)") }
        return data
    }

    /// The blob's bytes in the caller's transaction; nil when the table does not hold it.
    static func fetch(_ sha256: String, in db: Database) throws -> Data? {
        try Data.fetchOne(db.cachedStatement(sql: "SELECT data FROM blobs WHERE sha256 = ?"), arguments: [sha256])
    }

    public func contains(_ sha256: String) async throws -> Bool {
        try await store.read("looking up a blob") { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?)", arguments: [sha256]) ?? false
        }
    }
}

/// Small blobs in one store (the database), large ones in another (files): webhook bodies ride
/// the group commit, attachments do not bloat the database. Reads look in both, so moving the
/// threshold never strands data.
public struct TieredBlobStore: BlobStore {
    public let small: any BlobStore
    public let large: any BlobStore
    /// Blobs of at most this many bytes go to `small`.
    public let smallLimit: Int

    public static let defaultSmallLimit = SQLiteBlobStore.sizeLimit

    public init(small: any BlobStore, large: any BlobStore, smallLimit: Int = TieredBlobStore.defaultSmallLimit) {
        self.small = small
        self.large = large
        self.smallLimit = smallLimit
    }

    /// Both tiers address content the same way (SHA-256), so either answers.
    public func reference(for data: Data) -> BlobRef { small.reference(for: data) }

    public func put(_ data: Data) async throws -> BlobRef {
        data.count <= smallLimit ? try await small.put(data) : try await large.put(data)
    }

    public func putMany(_ blobs: [Data]) async throws -> [BlobRef] {
        let smallIndices = blobs.indices.filter { blobs[$0].count <= smallLimit }
        let largeIndices = blobs.indices.filter { blobs[$0].count > smallLimit }
        var refs = [BlobRef?](repeating: nil, count: blobs.count)
        if !largeIndices.isEmpty {
            for (index, ref) in zip(largeIndices, try await large.putMany(largeIndices.map { blobs[$0] })) { refs[index] = ref }
        }
        if !smallIndices.isEmpty {
            for (index, ref) in zip(smallIndices, try await small.putMany(smallIndices.map { blobs[$0] })) { refs[index] = ref }
        }
        return refs.compactMap { $0 }
    }

    public func get(_ sha256: String) async throws -> Data {
        do {
            return try await small.get(sha256)
        } catch StoreError.notFound {
            return try await large.get(sha256)
        }
    }

    public func contains(_ sha256: String) async throws -> Bool {
        if try await small.contains(sha256) { return true }
        return try await large.contains(sha256)
    }

    /// Streamed blobs are large by nature (their size is unknown when writing starts), so they
    /// always go to the large tier.
    public func makeWriter() throws -> any BlobWriter {
        try large.makeWriter()
    }

    /// Only the large tier keeps files; a blob in the small tier answers nil.
    public func fileURL(for sha256: String) async throws -> URL? {
        try await large.fileURL(for: sha256)
    }
}
