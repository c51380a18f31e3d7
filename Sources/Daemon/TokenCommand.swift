import ArgumentParser
import Core
import Foundation
import Storage

/// `astralisd token …`: admin API tokens in the configured store.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Admin API tokens.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it once (only its SHA-256 is stored).")

        @OptionGroup var options: ConfigOptions
        @Option(help: "viewer, operator or admin.") var role: String
        @Option(help: "Limit the token to this organization's data.") var org: String?
        @Option(help: "Lifetime: 30d, 12h, 90m (default: no expiry).") var expires: String?
        @Option(help: "A name to recognise the token by in listings and the audit log.") var name: String = "cli"

        func run() async throws {
            guard let role = AdminRole(rawValue: role) else {
                FileHandle.standardError.write(Data("--role: expected viewer, operator or admin, got \(role)\n".utf8))
                throw ExitCode(1)
            }
            var lifetime: TimeInterval?
            if let expires {
                guard let parsed = AdminTokens.parseLifetime(expires) else {
                    FileHandle.standardError.write(Data("--expires: expected a lifetime like 30d, 12h or 90m, got \(expires)\n".utf8))
                    throw ExitCode(1)
                }
                lifetime = parsed
            }
            let (loaded, store, _) = try openStore(options)
            if let org, loaded.config.organization(org) == nil {
                FileHandle.standardError.write(Data("--org: no organization \(org) in \(loaded.path) (configured: \(loaded.config.organizations.map(\.id).joined(separator: ", ")))\n".utf8))
                throw ExitCode(1)
            }
            let (secret, token) = try await AdminTokens.create(store: store, role: role, organization: org, lifetime: lifetime, name: name, now: Date(), actor: "cli", address: "local")
            FileHandle.standardError.write(Data("created \(token.id) (\(role.rawValue)\(org.map { ", organization \($0)" } ?? "")\(token.expiresAt.map { ", expires \(ISO8601DateFormatter().string(from: $0))" } ?? "")); the token is shown once:\n".utf8))
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")

        @OptionGroup var options: ConfigOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (_, store, _) = try openStore(options)
            let now = Date()
            let tokens = try await store.tokens()
            if json {
                print(String(decoding: JSONValue.array(tokens.map { AdminTokens.publicView($0, now: now) }).encoded(), as: UTF8.self))
                return
            }
            if tokens.isEmpty {
                print("no tokens")
                return
            }
            for token in tokens {
                let view = AdminTokens.publicView(token, now: now)
                let fields = ["id", "name", "role", "organization", "state", "created_at", "expires_at"].map { view[$0]?.stringValue ?? "-" }
                print(fields.joined(separator: "  "))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id; it stops working at once.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Token id (tok_...).") var id: String

        func run() async throws {
            let (_, store, _) = try openStore(options)
            let now = Date()
            let audit = AuditEntry(actor: "cli", address: "local", action: "token.revoked", target: id, organization: nil, detail: .object([:]), at: now)
            guard try await store.revokeToken(id: id, at: now, audit: audit) else {
                FileHandle.standardError.write(Data("no token \(id)\n".utf8))
                throw ExitCode(1)
            }
            print("revoked \(id)")
        }
    }
}
