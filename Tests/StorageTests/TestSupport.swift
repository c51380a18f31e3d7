import Core
import Foundation
// Logging is a dependency of Storage, not declared for this test target; SwiftPM still builds it
// first and makes it importable.
import Logging

extension Logger {
    /// Discards everything: the suites assert on state, not on log lines.
    static let quiet = Logger(label: "astralisd.storage-tests", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// Runs `body` with a fresh empty directory that is removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("astralisd-storage-\(UUID().uuidString)", isDirectory: true).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

extension StoreError {
    /// The case without its message; the contract checks the case, messages are backend detail.
    enum Kind: Equatable { case notFound, conflict, unavailable, invalid }

    var kind: Kind {
        switch self {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .unavailable: return .unavailable
        case .invalid: return .invalid
        }
    }
}
