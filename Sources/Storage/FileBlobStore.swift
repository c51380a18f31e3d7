public import Core
import Crypto
import Dispatch
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-addressed blobs in a directory tree: the bytes with SHA-256 `abcd…` live at
/// `root/ab/cd/abcd…`.
///
/// Writes are crash-safe: the bytes go to `root/tmp/`, are fsynced, renamed into place, and the
/// destination directory is fsynced, so a returned ``BlobRef`` names bytes that survive power loss
/// and a reader never sees a partial file. Storing bytes that are already present writes nothing.
///
/// The file system calls block; they run on Dispatch's global queue rather than the Swift
/// concurrency pool, whose few threads must stay free for request handling.
public struct FileBlobStore: BlobStore {
    /// The directory that holds the blobs.
    public let root: String

    /// Opens (creating if needed) a blob store rooted at `root`.
    ///
    /// - Throws: ``StoreError/unavailable(_:)`` when the directories cannot be created.
    public init(root: String) throws {
        self.root = root
        try DurableFiles.makeDirectory(root)
        try DurableFiles.makeDirectory(temporaryDirectory)
    }

    public func reference(for data: Data) -> BlobRef { Blob(data).ref }

    public func put(_ data: Data) async throws -> BlobRef {
        let blob = Blob(data)
        return try await offloaded {
            try store([blob])
            return blob.ref
        }
    }

    /// Stores a batch with one durability barrier per directory: every file is written and
    /// fsynced, then all are renamed, then each distinct directory is fsynced once.
    public func putMany(_ blobs: [Data]) async throws -> [BlobRef] {
        guard !blobs.isEmpty else { return [] }
        let prepared = blobs.map(Blob.init)
        return try await offloaded {
            try store(prepared)
            return prepared.map(\.ref)
        }
    }

    /// - Throws: ``StoreError/notFound(_:)`` when no blob has this key; ``StoreError/invalid(_:)``
    ///   when `sha256` is not a lower-case hex SHA-256 (it could otherwise name a path outside
    ///   the store).
    public func get(_ sha256: String) async throws -> Data {
        let path = try path(for: sha256)
        return try await offloaded {
            guard let data = try DurableFiles.contents(of: path) else {
                throw StoreError.notFound("blob \(sha256)")
            }
            return data
        }
    }

    public func contains(_ sha256: String) async throws -> Bool {
        let path = try path(for: sha256)
        return try await offloaded { DurableFiles.exists(path) }
    }

    /// Writes to a temporary file in `root/tmp` while hashing, so a blob of any size costs one
    /// chunk of memory; `finish` fsyncs it, renames it to its content address and fsyncs the
    /// directory — the same durability as `put`.
    public func makeWriter() throws -> any BlobWriter {
        try FileBlobWriter(store: self)
    }

    /// The blob's file (open it, map it with `Data(contentsOf:options: .alwaysMapped)`, or hand
    /// the path to a C library); nil when no blob has this key.
    public func fileURL(for sha256: String) async throws -> URL? {
        let path = try path(for: sha256)
        return DurableFiles.exists(path) ? URL(fileURLWithPath: path) : nil
    }

    /// Deletes files in `root/tmp` older than `age`: writes that a crash interrupted before their
    /// rename. A live write takes milliseconds, so an hour-old temp file has no owner, even with
    /// other processes (an `astralisd ingest`) writing to the same store. Returns how many went.
    @discardableResult
    public func removeAbandonedTemporaryFiles(olderThan age: TimeInterval = 3600, now: Date = Date()) -> Int {
        let directory = temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names {
            let path = directory + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  now.timeIntervalSince(modified) > age else { continue }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
        }
        return removed
    }

    // MARK: - Layout

    var temporaryDirectory: String { root + "/tmp" }

    func directory(for sha256: String) -> String {
        "\(root)/\(sha256.prefix(2))/\(sha256.dropFirst(2).prefix(2))"
    }

    private func path(for sha256: String) throws -> String {
        guard Blob.isKey(sha256) else {
            throw StoreError.invalid("blob key must be 64 lower-case hex digits")
        }
        return directory(for: sha256) + "/" + sha256
    }

    // MARK: - Writing

    private func store(_ blobs: [Blob]) throws {
        // Blobs already stored (or repeated in this batch) are not written again. Their directory
        // is still fsynced: the blob may have been renamed into place by a concurrent writer that
        // has not yet made the rename durable.
        var pending: [(blob: Blob, temporary: String, final: String)] = []
        var directories: Set<String> = []
        var seen: Set<String> = []
        var renamed = 0
        defer {
            // Temporaries not renamed into place belong to a failed batch.
            for entry in pending.dropFirst(renamed) { unlink(entry.temporary) }
        }

        for blob in blobs where seen.insert(blob.ref.sha256).inserted {
            let directory = directory(for: blob.ref.sha256)
            let final = directory + "/" + blob.ref.sha256
            directories.insert(directory)
            if DurableFiles.exists(final) { continue }
            try DurableFiles.makeDirectory(directory)
            let temporary = temporaryDirectory + "/" + UUID().uuidString
            pending.append((blob, temporary, final))
            try DurableFiles.writeAndSync(blob.data, to: temporary)
        }
        for entry in pending {
            try DurableFiles.moveIntoPlace(entry.temporary, entry.final)
            renamed += 1
        }
        for directory in directories.sorted() {
            try DurableFiles.syncDirectory(directory)
        }
    }

    func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}

/// Bytes with their content address.
struct Blob: Sendable {
    let data: Data
    let ref: BlobRef

    init(_ data: Data) {
        self.data = data
        self.ref = BlobRef(sha256: Self.hex(SHA256.hash(data: data)), size: data.count)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ digest: SHA256.Digest) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(SHA256.byteCount * 2)
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isKey(_ text: String) -> Bool {
        text.utf8.count == SHA256.byteCount * 2 && text.utf8.allSatisfy { digits.contains($0) }
    }
}

/// One blob streamed into the file store (see ``FileBlobStore/makeWriter()``). A writer that is
/// dropped without `finish` removes its temporary file.
final class FileBlobWriter: BlobWriter, @unchecked Sendable {
    // @unchecked Sendable: BlobWriter's contract is one caller at a time, and `finish` runs its
    // file work on one Dispatch thread while that caller awaits it, so the state below is never
    // touched concurrently.
    private let store: FileBlobStore
    private let temporary: String
    /// Open while bytes may still come; -1 once sealed or discarded.
    private var fd: Int32
    /// The temporary file exists (not yet renamed into place or removed).
    private var pending = true
    private var hasher = SHA256()
    private(set) var bytesWritten = 0

    init(store: FileBlobStore) throws {
        self.store = store
        temporary = store.temporaryDirectory + "/" + UUID().uuidString
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DurableFiles.failure("create", temporary) }
    }

    deinit {
        discard()
    }

    func write(_ chunk: Data) throws {
        guard fd >= 0 else { throw StoreError.invalid("blob writer used after seal, finish or discard") }
        hasher.update(data: chunk)
        try DurableFiles.writeAll(chunk, to: fd, path: temporary)
        bytesWritten += chunk.count
    }

    func seal() throws {
        guard fd >= 0 else { return }
        defer {
            close(fd)
            fd = -1
        }
        guard fsync(fd) == 0 else { throw DurableFiles.failure("fsync", temporary) }
    }

    func finish() async throws -> BlobRef {
        guard pending else { throw StoreError.invalid("blob writer used after finish or discard") }
        let ref = BlobRef(sha256: Blob.hex(hasher.finalize()), size: bytesWritten)
        try await store.offloaded { [self] in
            do {
                try seal()
                let directory = store.directory(for: ref.sha256)
                let final = directory + "/" + ref.sha256
                try DurableFiles.makeDirectory(directory)
                // Already stored (the same message fetched again): the existing file stays. The
                // directory is still fsynced, as in `put`.
                if !DurableFiles.exists(final) {
                    try DurableFiles.moveIntoPlace(temporary, final)
                    pending = false
                }
                try DurableFiles.syncDirectory(directory)
                discard()
            } catch {
                discard()
                throw error
            }
        }
        return ref
    }

    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if pending {
            unlink(temporary)
            pending = false
        }
    }
}

/// POSIX file operations with the fsyncs that make them durable, failing as ``StoreError``.
private enum DurableFiles {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates `path` and any missing parents (mode 0700: blobs are customer data), fsyncing the
    /// parent of each directory created so the new entry survives a crash.
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) == 0 {
            try syncDirectory(parent(of: path))
            return
        }
        switch errno {
        case EEXIST:
            return
        case ENOENT:
            let parent = parent(of: path)
            guard parent != path else { throw failure("create directory", path) }
            try makeDirectory(parent)
            if mkdir(path, 0o700) == 0 {
                try syncDirectory(parent)
            } else if errno != EEXIST {
                throw failure("create directory", path)
            }
        default:
            throw failure("create directory", path)
        }
    }

    static func writeAndSync(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", path) }
        defer { close(fd) }
        try writeAll(data, to: fd, path: path)
        guard fsync(fd) == 0 else { throw failure("fsync", path) }
    }

    static func writeAll(_ data: Data, to fd: Int32, path: String) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure("write", path)
                }
                offset += written
            }
        }
    }

    /// Atomically replaces `destination` with `source` (same file system).
    static func moveIntoPlace(_ source: String, _ destination: String) throws {
        guard rename(source, destination) == 0 else { throw failure("rename into", destination) }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync directory", path) }
    }

    /// The file's bytes, or nil when it does not exist.
    static func contents(of path: String) throws -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw failure("open", path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("stat", path) }
        var data = Data(count: Int(info.st_size))
        let count = data.count
        try data.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < count {
                let got = read(fd, buffer.baseAddress.map { $0 + offset }, count - offset)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw failure("read", path)
                }
                // Blobs are immutable; a short file means it is not the file that was stored.
                if got == 0 { throw StoreError.unavailable("blob store: \(path) is shorter than it was") }
                offset += got
            }
        }
        return data
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func failure(_ action: String, _ path: String) -> StoreError {
        let reason = String(cString: strerror(errno))
        return StoreError.unavailable("blob store: cannot \(action) \(path): \(reason)")
    }
}
