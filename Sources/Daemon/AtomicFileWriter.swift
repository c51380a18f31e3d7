import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Replaces a file so that a crash at any moment leaves the old or the new contents, never a torn
/// file: write a temporary file in the same directory, fsync it, rename it over the target, fsync
/// the directory so the rename itself is durable.
enum AtomicFileWriter {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The temporary name used for `path` (same directory, so the rename never crosses file systems).
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
    }

    /// Writes `data` to a new temporary file next to `path` and syncs it; returns its path.
    /// `mode` keeps the target's permissions (configs may hold inline secrets).
    static func writeTemporary(_ data: Data, for path: String, mode: mode_t) throws -> String {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        let bytes = [UInt8](data)
        let half = bytes.count / 2
        do {
            try writeAll(fd, bytes[..<half], path: temporary)
            // Test hook: stop half-way, as a power cut during the write would.
            CrashPoint.reached(CrashPoint.duringConfigTempWrite)
            try writeAll(fd, bytes[half...], path: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        guard fsync(fd) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot sync \(temporary): \(String(cString: strerror(errno)))")
        }
        closed = true
        close(fd)
        return temporary
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>, path: String) throws {
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { buffer in buffer.baseAddress.map { write(fd, $0, buffer.count) } ?? 0 }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
            rest = rest.dropFirst(n)
        }
    }

    /// Renames the synced temporary file over `path` and syncs the directory.
    static func install(_ temporary: String, at path: String) throws {
        CrashPoint.reached(CrashPoint.afterConfigTempWrite)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot rename \(temporary) to \(path): \(reason)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
        CrashPoint.reached(CrashPoint.afterConfigRename)
    }

    /// The permission bits of `path`, or 0o640 when it cannot be read.
    static func mode(of path: String) -> mode_t {
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber else { return 0o640 }
        return mode_t(mode.uint16Value & 0o7777)
    }
}
