import Actions
import Core
import Foundation
import Inbound
import Logging
import Rules
#if canImport(Glibc)
import Glibc
#endif

/// Reads secrets named by `SecretRef`s: environment variables, files, systemd credentials.
struct SecretResolver {
    var environment: [String: String]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func resolve(_ ref: SecretRef) throws -> String {
        switch ref {
        case .value(let secret):
            return secret
        case .env(let name):
            guard let value = environment[name], !value.isEmpty else { throw Failure(description: "environment variable \(name) is not set or empty") }
            return value
        case .file(let path):
            return try read(path, label: "file \(path)")
        case .credential(let name):
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw Failure(description: "credential \(name) requested but $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)")
            }
            guard !name.contains("/") else { throw Failure(description: "credential name \(name) must not contain '/'") }
            return try read(directory + "/" + name, label: "credential \(name)")
        }
    }

    private func read(_ path: String, label: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "\(label) cannot be read") }
        guard var text = String(data: data, encoding: .utf8) else { throw Failure(description: "\(label) is not UTF-8") }
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw Failure(description: "\(label) is empty") }
        return text
    }
}

extension IMAPCredential {
    /// The config key the secret is under, and the reference.
    var keyAndRef: (String, SecretRef) {
        switch self {
        case .password(let ref): return ("password", ref)
        case .xoauth2(let ref): return ("xoauth2_token", ref)
        }
    }
}

/// A validated configuration with everything resolved that needs I/O: secrets, templates, rules.
struct LoadedConfig: Sendable {
    var config: DaemonConfig
    var endpoints: [WebhookEndpoint]
    var path: String
    /// The rules in force (from `--rules` or `rules_file`); nil: default routes only.
    var rules: RuleSet?
    /// `--rules` as given at start-up; a reload reads the same file again.
    var rulesOverride: String?
    /// The AI router's key, resolved from `ai.api_key`.
    var aiKey: String?
    /// Outbound webhooks with their secrets read, by `OutboundEndpoint.key(organization:id:)`.
    var outbound: [String: OutboundEndpoint] = [:]
    /// The document field model's key, resolved from `documents.model.api_key`.
    var documentModelKey: String?

    /// The field model `documents.model` asks for; nil: local extraction only.
    func makeDocumentModel(
        observe: @escaping @Sendable (String, Double) -> Void = { _, _ in }, observeImages: @escaping @Sendable (String, Int) -> Void = { _, _ in }, logger: Logger
    ) -> (any FieldExtractionModel)? {
        guard let model = config.documentModel else { return nil }
        return OpenAIFieldExtractionModel(config: model, apiKey: documentModelKey, client: ProcessHTTPClient.shared, observe: observe, observeImages: observeImages, logger: logger)
    }

    /// The router this configuration asks for: the rules when there are any (with the AI router
    /// when `ai` is configured), else the default routes.
    func makeRouter(aiObserver: AIRouterObserver = AIRouterObserver(), logger: Logger = Logger(label: "astralisd.rules")) -> any IntakeRouter {
        guard let rules else { return DefaultRouter(config: config) }
        let classifier = config.ai.map { OpenAIRouteClassifier(config: $0, apiKey: aiKey, client: ProcessHTTPClient.shared, observer: aiObserver, logger: logger) }
        return RulesRouter(rules: rules, config: config, classifier: classifier)
    }
}

enum ConfigLoader {
    /// Where the config is when `--config` is not given.
    static func defaultPath(environment: [String: String]) -> String {
        environment["ASTRALISD_CONFIG"] ?? "/etc/astralisd/astralisd.json"
    }

    /// Loads and validates `path`. State directory precedence: `--state-dir` flag, then systemd's
    /// `$STATE_DIRECTORY`, then the `ASTRALISD_STATE_DIR` override, then the file.
    /// `rulesOverride` (`--rules`) replaces the config's `rules_file`; a relative `rules_file` is
    /// resolved against the configuration file's directory. Rule errors are reported as issues
    /// whose path is `FILE#/json/pointer`.
    static func load(path: String, stateDirOverride: String? = nil, rulesOverride: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> LoadedConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions?)" : "does not exist"
            throw ConfigError(source: path, issues: [ConfigIssue(path: "", message: "configuration file \(reason)")])
        }
        var config = try ConfigParser.parse(data, sourceName: path, environment: environment)
        if let override = stateDirOverride {
            config.stateDir = override
        } else if let systemd = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !systemd.isEmpty {
            config.stateDir = String(systemd)
        }

        var issues: [ConfigIssue] = []
        let resolver = SecretResolver(environment: environment)
        var endpoints: [WebhookEndpoint] = []
        var spoolPaths: [String: String] = [:]
        for (orgIndex, org) in config.organizations.enumerated() {
            let orgPath = "organizations[\(orgIndex)]"
            checkTemplates(org.defaultRoute, at: "\(orgPath).default_route", into: &issues)
            for (sourceIndex, source) in org.sources.enumerated() {
                let sourcePath = "\(orgPath).sources[\(sourceIndex)]"
                if let route = source.route { checkTemplates(route, at: "\(sourcePath).route", into: &issues) }
                if let imap = source.imap {
                    // Read now so a missing secret fails `check` and start-up; pollers read it
                    // again on every connect, so a rotated secret needs no reload.
                    let (key, ref) = imap.credential.keyAndRef
                    do {
                        _ = try resolver.resolve(ref)
                    } catch {
                        issues.append(ConfigIssue(path: "\(sourcePath).\(key)", message: "\(error)"))
                    }
                    if let caFile = imap.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                        issues.append(ConfigIssue(path: "\(sourcePath).ca_file", message: "expected a readable PEM file, got \"\(caFile)\""))
                    }
                    continue
                }
                if let spool = source.spool {
                    let resolved = checkSpool(spool, stateDir: config.stateDir, at: sourcePath, into: &issues)
                    if let other = spoolPaths[resolved.path] {
                        issues.append(ConfigIssue(path: "\(sourcePath).path", message: "expected a folder no other spool source watches, got \"\(resolved.path)\" (also \(other))"))
                    }
                    spoolPaths[resolved.path] = sourcePath
                    config.organizations[orgIndex].sources[sourceIndex].spool = resolved
                    continue
                }
                do {
                    let verifier = try WebhookVerifier(auth: source.auth, resolve: resolver.resolve)
                    endpoints.append(WebhookEndpoint(config: source, verifier: verifier))
                } catch {
                    issues.append(ConfigIssue(path: "\(sourcePath).auth", message: "\(error)"))
                }
            }
        }
        for (index, account) in config.smtpAccounts.enumerated() {
            // Read now so a missing secret fails `check`; every send reads it again.
            if let ref = account.password {
                do {
                    _ = try resolver.resolve(ref)
                } catch {
                    issues.append(ConfigIssue(path: "smtp_accounts[\(index)].password", message: "\(error)"))
                }
            }
            if let caFile = account.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                issues.append(ConfigIssue(path: "smtp_accounts[\(index)].ca_file", message: "expected a readable PEM file, got \"\(caFile)\""))
            }
        }
        var outbound: [String: OutboundEndpoint] = [:]
        for (orgIndex, org) in config.organizations.enumerated() {
            for (hookIndex, hook) in org.outboundWebhooks.enumerated() {
                let hookPath = "organizations[\(orgIndex)].outbound_webhooks[\(hookIndex)]"
                if let endpoint = resolveOutbound(hook, organization: org.id, resolver: resolver, at: hookPath, into: &issues) {
                    outbound[OutboundEndpoint.key(organization: org.id, id: hook.id)] = endpoint
                }
            }
        }
        var aiKey: String?
        if let ref = config.ai?.apiKey {
            do {
                aiKey = try resolver.resolve(ref)
            } catch {
                issues.append(ConfigIssue(path: "ai.api_key", message: "\(error)"))
            }
        }
        var documentModelKey: String?
        if let ref = config.documentModel?.apiKey {
            do {
                documentModelKey = try resolver.resolve(ref)
            } catch {
                issues.append(ConfigIssue(path: "documents.model.api_key", message: "\(error)"))
            }
        }
        guard issues.isEmpty else { throw ConfigError(source: path, issues: issues) }
        var rules: RuleSet?
        if let rulesPath = rulesOverride ?? config.rulesFile.map({ resolve($0, relativeTo: path) }) {
            config.rulesFile = rulesPath
            do {
                rules = try RuleLoader.load(path: rulesPath, context: RuleContext(organizations: config.organizations, checkTemplate: checkTemplate, scheduling: config.scheduling))
            } catch {
                throw ConfigError(source: rulesPath, issues: error.issues.map { ConfigIssue(path: "\($0.file)#\($0.pointer)", message: $0.message) })
            }
        }
        var loaded = LoadedConfig(config: config, endpoints: endpoints, path: path, rules: rules, rulesOverride: rulesOverride, aiKey: aiKey, outbound: outbound)
        loaded.documentModelKey = documentModelKey
        return loaded
    }

    /// Reads an outbound webhook's signing secret and secret headers now, so `check` and start-up
    /// fail on a missing or malformed one.
    static func resolveOutbound(_ hook: OutboundWebhook, organization: String, resolver: SecretResolver, at path: String, into issues: inout [ConfigIssue]) -> OutboundEndpoint? {
        var signer: WebhookSigner?
        var ok = true
        if let ref = hook.secret {
            do {
                signer = try WebhookSigner(secret: try resolver.resolve(ref))
            } catch {
                issues.append(ConfigIssue(path: "\(path).secret", message: "\(error)"))
                ok = false
            }
        }
        var headers: [(String, String)] = []
        for header in hook.headers {
            do {
                let value = try resolver.resolve(header.value)
                guard !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                    throw SecretResolver.Failure(description: "header value must not contain line breaks")
                }
                headers.append((header.name, value))
            } catch {
                issues.append(ConfigIssue(path: "\(path).headers.\(header.name)", message: "\(error)"))
                ok = false
            }
        }
        return ok ? OutboundEndpoint(organization: organization, config: hook, signer: signer, headers: headers) : nil
    }

    /// A relative path in the configuration is relative to the configuration file, not to the
    /// working directory (systemd starts us in `/`).
    static func resolve(_ file: String, relativeTo configPath: String) -> String {
        if file.hasPrefix("/") { return file }
        let directory = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        return directory.appendingPathComponent(file).standardizedFileURL.path
    }

    /// The item composer's template check, so rules accept exactly the templates items render.
    @Sendable static func checkTemplate(_ template: String) -> String? {
        do {
            try ItemComposer.validate(template)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Resolves a spool source's folders (relative to the state directory) and checks each is a
    /// directory this user can write, or can be created (the watcher creates missing ones).
    private static func checkSpool(_ spool: SpoolConfig, stateDir: String, at path: String, into issues: inout [ConfigIssue]) -> SpoolConfig {
        func resolve(_ folder: String) -> String {
            let absolute = folder.hasPrefix("/") ? folder : stateDir + "/" + folder
            return (absolute as NSString).standardizingPath
        }
        var resolved = spool
        resolved.path = resolve(spool.path)
        resolved.doneDir = resolve(spool.doneDir)
        resolved.failedDir = resolve(spool.failedDir)
        for (key, folder) in [("path", resolved.path), ("done_dir", resolved.doneDir), ("failed_dir", resolved.failedDir)] {
            if let problem = folderProblem(folder) { issues.append(ConfigIssue(path: "\(path).\(key)", message: problem)) }
        }
        return resolved
    }

    /// Why `folder` cannot serve as a spool folder, or nil when it exists and is writable or
    /// its nearest existing ancestor is a writable directory.
    static func folderProblem(_ folder: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return "expected a directory, got a file that is not one (\(folder))" }
            guard access(folder, W_OK | X_OK) == 0 else { return "expected a directory this user can write, got \(folder) (permissions?)" }
            return nil
        }
        var ancestor = (folder as NSString).deletingLastPathComponent
        while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        if ancestor.isEmpty { ancestor = "/" }
        guard FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory), isDirectory.boolValue,
              access(ancestor, W_OK | X_OK) == 0 else {
            return "expected a directory that exists or can be created, got \(folder) (\(ancestor) is not a writable directory)"
        }
        return nil
    }

    private static func checkTemplates(_ route: Route, at path: String, into issues: inout [ConfigIssue]) {
        for (key, template) in [("title", route.titleTemplate), ("description", route.descriptionTemplate)] {
            guard let template else { continue }
            do {
                try ItemComposer.validate(template)
            } catch {
                issues.append(ConfigIssue(path: "\(path).\(key)", message: "expected a valid Mustache template: \(error)"))
            }
        }
    }
}
