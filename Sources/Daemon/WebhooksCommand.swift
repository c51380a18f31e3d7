import ArgumentParser
import Core
import Foundation
import Storage

/// `astralisd webhooks`: outbound webhook endpoints disabled by `410 Gone`, and re-enabling them.
struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "webhooks", abstract: "Outbound webhook endpoints.", subcommands: [Disabled.self, Enable.self])

    struct Disabled: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints disabled because they answered 410 Gone.")

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (_, store, _) = try openStore(options)
            let disabled = try await store.disabledWebhookEndpoints()
            if disabled.isEmpty {
                print("no disabled endpoints")
                return
            }
            let formatter = ISO8601DateFormatter()
            for state in disabled {
                print("\(state.organization)/\(state.endpoint)  disabled \(state.disabledAt.map(formatter.string(from:)) ?? "-")  \(state.disabledReason ?? "")")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send to a disabled endpoint again (later forwards; dead letters stay dead).")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Organization id.") var organization: String
        @Argument(help: "Outbound webhook id.") var endpoint: String

        func run() async throws {
            let (_, store, _) = try openStore(options)
            if try await store.enableWebhookEndpoint(organization: organization, endpoint: endpoint) {
                print("enabled \(organization)/\(endpoint)")
            } else {
                print("\(organization)/\(endpoint) was not disabled")
            }
        }
    }
}
