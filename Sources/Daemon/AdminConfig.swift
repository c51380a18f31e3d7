import Core
import Foundation
import HTTPTypes
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Replaces the config or rules file for `PUT /v1/config` and `PUT /v1/rules`: ETag check,
/// validation of the exact bytes that will be installed, atomic install. An actor, so two PUTs
/// never interleave between the ETag check and the rename (the steps are synchronous).
actor ConfigEditor {
    struct Replacement: Sendable {
        var old: JSONValue
        var new: JSONValue
        var etag: String
    }

    /// - Parameters:
    ///   - keepRedacted: `"<redacted>"` placeholders (as GET answers them) take the current file's
    ///     value at the same place, so a GET → edit → PUT round trip keeps inline secrets.
    ///   - validate: loads the candidate file at the given path and returns problem entries
    ///     (`{"pointer", "message"}`), empty when it is valid.
    func replace(path: String, ifMatch: String?, body: JSONValue, keepRedacted: Bool = true, validate: @Sendable (String) -> [JSONValue]) throws -> Replacement {
        guard let ifMatch, !ifMatch.isEmpty else {
            throw AdminFailure(status: .preconditionRequired, detail: "If-Match with the ETag of the current document (from GET) is required")
        }
        guard let current = FileManager.default.contents(atPath: path) else {
            throw AdminFailure(status: .internalServerError, detail: "the current file cannot be read")
        }
        let etag = AdminAPI.etag(current)
        let offered = ifMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard offered.contains(etag) || offered.contains("W/" + etag) else {
            throw AdminFailure(status: .preconditionFailed, detail: "the document changed since it was read; GET it again and reapply the change", headers: [.eTag: etag])
        }
        guard case .object = body else {
            throw AdminFailure(status: .unprocessableContent, detail: "expected a JSON object", extra: ["errors": .array([.object(["pointer": .string(""), "message": .string("expected a JSON object")])])])
        }
        let old = (try? JSONValue.parse(current)) ?? .null
        let new = keepRedacted ? ConfigRedaction.restore(body, from: old) : body
        let bytes = new.encoded()
        let temporary = try AtomicFileWriter.writeTemporary(bytes, for: path, mode: AtomicFileWriter.mode(of: path))
        let problems = validate(temporary)
        guard problems.isEmpty else {
            unlink(temporary)
            throw AdminFailure(status: .unprocessableContent, detail: "the document has \(problems.count) error(s); nothing was changed", extra: ["errors": .array(problems)])
        }
        try AtomicFileWriter.install(temporary, at: path)
        return Replacement(old: old, new: new, etag: AdminAPI.etag(bytes))
    }
}

/// Secrets in configuration documents: inline `{"value": SECRET}` references. GET answers and
/// audit entries show them as `"<redacted>"`; env names, file paths and credential names are not
/// secrets and are shown.
enum ConfigRedaction {
    static let marker = "<redacted>"

    static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            if members.count == 1, case .string? = members["value"] { return .object(["value": .string(marker)]) }
            return .object(members.mapValues(redact))
        case .array(let elements):
            return .array(elements.map(redact))
        default:
            return value
        }
    }

    /// `new` with each `"<redacted>"` string replaced by `old`'s value at the same place.
    static func restore(_ new: JSONValue, from old: JSONValue?) -> JSONValue {
        switch new {
        case .string(marker):
            if case .string? = old { return old ?? new }
            return new
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, value) in members { result[key] = restore(value, from: old?[key]) }
            return .object(result)
        case .array(let elements):
            let previous = old?.arrayValue ?? []
            return .array(elements.enumerated().map { index, value in restore(value, from: index < previous.count ? previous[index] : nil) })
        default:
            return new
        }
    }

    /// Changes between two (already redacted) documents as `[{"pointer", "old", "new"}]`, at most 200.
    static func diff(_ old: JSONValue, _ new: JSONValue) -> JSONValue {
        var changes: [JSONValue] = []
        collect(old, new, pointer: "", into: &changes)
        return .array(Array(changes.prefix(200)))
    }

    private static func collect(_ old: JSONValue?, _ new: JSONValue?, pointer: String, into changes: inout [JSONValue]) {
        if old == new { return }
        switch (old, new) {
        case (.object(let a)?, .object(let b)?):
            for key in Set(a.keys).union(b.keys).sorted() {
                collect(a[key], b[key], pointer: pointer + "/" + escape(key), into: &changes)
            }
        case (.array(let a)?, .array(let b)?) where a.count == b.count:
            for index in a.indices { collect(a[index], b[index], pointer: pointer + "/\(index)", into: &changes) }
        default:
            changes.append(.object(["pointer": .string(pointer), "old": old ?? .null, "new": new ?? .null]))
        }
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// `organizations[0].sources[1].auth.type` → `/organizations/0/sources/1/auth/type`.
    static func pointer(fromKeyPath path: String) -> String {
        guard !path.isEmpty else { return "" }
        var pointer = ""
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            var name = Substring(segment)
            var indices: [String] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                indices.insert(String(name[name.index(after: open)..<name.index(before: name.endIndex)]), at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { pointer += "/" + escape(String(name)) }
            for index in indices { pointer += "/" + index }
        }
        return pointer
    }

    /// A config issue as a problem entry. Rule-file issues (`FILE#/pointer`) keep their file.
    static func problemEntry(_ issue: ConfigIssue) -> JSONValue {
        if let hash = issue.path.firstIndex(of: "#") {
            return .object([
                "file": .string(URL(fileURLWithPath: String(issue.path[..<hash])).lastPathComponent),
                "pointer": .string(String(issue.path[issue.path.index(after: hash)...])), "message": .string(issue.message),
            ])
        }
        return .object(["pointer": .string(pointer(fromKeyPath: issue.path)), "message": .string(issue.message)])
    }
}

/// Creating tokens, shared by `astralisd token create` and `POST /v1/tokens`.
enum AdminTokens {
    static func create(store: any AdminStore, role: AdminRole, organization: String?, lifetime: TimeInterval?, name: String, now: Date, actor: String, address: String) async throws -> (secret: String, token: AdminToken) {
        let secret = AdminTokenFormat.generate()
        let token = AdminToken(
            id: Identifier.make(prefix: "tok", at: now), name: name, role: role, organization: organization,
            sha256: AdminTokenFormat.sha256(secret), createdAt: now, expiresAt: lifetime.map { now.addingTimeInterval($0) })
        let audit = AuditEntry(actor: actor, address: address, action: "token.created", target: token.id, organization: organization, detail: .object([
            "role": .string(role.rawValue), "name": .string(name), "organization": organization.map(JSONValue.string) ?? .null,
        ]), at: now)
        try await store.createToken(token, audit: audit)
        return (secret, token)
    }

    /// A token as listings show it: never the hash.
    static func publicView(_ token: AdminToken, now: Date) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        let state = token.revokedAt != nil ? "revoked" : token.isActive(at: now) ? "active" : "expired"
        return .object([
            "id": .string(token.id), "name": .string(token.name), "role": .string(token.role.rawValue),
            "organization": token.organization.map(JSONValue.string) ?? .null,
            "created_at": .string(formatter.string(from: token.createdAt)),
            "expires_at": token.expiresAt.map { .string(formatter.string(from: $0)) } ?? .null,
            "revoked_at": token.revokedAt.map { .string(formatter.string(from: $0)) } ?? .null,
            "state": .string(state),
        ])
    }

    /// `30d`, `12h`, `90m`, or a number of days.
    static func parseLifetime(_ text: String) -> TimeInterval? {
        let units: [Character: TimeInterval] = ["d": 86_400, "h": 3600, "m": 60]
        if let unit = text.last, let factor = units[unit], let value = Double(text.dropLast()), value > 0 { return value * factor }
        if let days = Double(text), days > 0 { return days * 86_400 }
        return nil
    }
}

/// Where the admin listener may bind: loopback always; another address only with tokens in the
/// store and TLS or the explicit `admin.allow_plaintext` opt-out (TLS is not built in yet).
enum AdminListenerPolicy {
    /// Why `config` may not start, or nil.
    static func problem(_ config: DaemonConfig, activeTokens: Int) -> String? {
        guard !config.adminListen.isLoopback else { return nil }
        if activeTokens == 0 {
            return "listen.admin: \(config.adminListen) is not a loopback address, and no admin token exists; create one with `astralisd token create --role admin` first"
        }
        if !config.adminAllowPlaintext {
            return "listen.admin: \(config.adminListen) is not a loopback address and the admin listener has no TLS; put it behind a TLS-terminating proxy and set admin.allow_plaintext: true, or bind 127.0.0.1"
        }
        return nil
    }

    static func problem(_ config: DaemonConfig, store: any AdminStore) async throws -> String? {
        guard !config.adminListen.isLoopback else { return nil }
        let now = Date()
        let active = try await store.tokens().filter { $0.isActive(at: now) }.count
        return problem(config, activeTokens: active)
    }
}
