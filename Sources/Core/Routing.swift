public import Foundation

/// Everything routing may look at for one intake. Built by Inbound from the raw bytes; read by the
/// router and by templates (item titles, replies). Stable field names: rule files refer to them.
public struct Facts: Sendable, Codable, Equatable {
    public var intakeID: String
    public var organization: String
    public var source: String
    public var sourceKind: SourceKind
    public var receivedAt: Date
    /// Webhook payload (JSON body, or form fields as an object of strings / arrays of strings).
    public var payload: JSONValue
    public var subject: String?
    public var from: String?
    public var text: String?
    /// The parsed email for intakes of kind imap, spool and cli (.eml); nil for webhooks.
    public var message: Message?
    public var documents: [DocumentFacts]

    public init(
        intakeID: String, organization: String, source: String, sourceKind: SourceKind, receivedAt: Date,
        payload: JSONValue = .object([:]), subject: String? = nil, from: String? = nil, text: String? = nil,
        message: Message? = nil, documents: [DocumentFacts] = []
    ) {
        self.intakeID = intakeID
        self.organization = organization
        self.source = source
        self.sourceKind = sourceKind
        self.receivedAt = receivedAt
        self.payload = payload
        self.subject = subject
        self.from = from
        self.text = text
        self.message = message
        self.documents = documents
    }

    /// The view templates see: `{{payload.name}}`, `{{source}}`, `{{#documents}}{{filename}}{{/documents}}`...
    public var templateContext: [String: Any] {
        var context: [String: Any] = [
            "intake_id": intakeID,
            "organization": organization,
            "source": source,
            "source_kind": sourceKind.rawValue,
            "received_at": receivedAt.formatted(.iso8601),
            "payload": payload.plainValue ?? [String: Any](),
            "documents": documents.map { document -> [String: Any] in
                var entry: [String: Any] = ["filename": document.filename, "type": document.declaredType, "size": document.size]
                if let kind = document.kind { entry["kind"] = kind }
                if let fields = document.fields?.plainValue { entry["fields"] = fields }
                return entry
            },
        ]
        if let subject { context["subject"] = subject }
        if let from { context["from"] = from }
        if let text { context["text"] = text }
        if let message {
            func list(_ addresses: [MailAddress]) -> [[String: Any]] {
                addresses.map { ["name": $0.name ?? "", "address": $0.address, "formatted": $0.formatted] }
            }
            var mail: [String: Any] = [
                "from": list(message.from), "to": list(message.to), "cc": list(message.cc), "reply_to": list(message.replyTo),
                "attachments": message.attachments.map { ["filename": $0.filename, "type": $0.declaredType, "size": $0.size] },
            ]
            if let id = message.messageID { mail["message_id"] = id }
            if let date = message.date { mail["date"] = date.formatted(.iso8601) }
            if let subject = message.subject { mail["subject"] = subject }
            context["message"] = mail
        }
        return context
    }
}

/// What routing sees of a document.
public struct DocumentFacts: Sendable, Codable, Equatable {
    public var filename: String
    public var declaredType: String
    public var size: Int
    /// Classified kind once extraction has run: `invoice`, `receipt`, `credit_note`, `quote`,
    /// `order_confirmation`, `other`; nil before (or without) extraction.
    public var kind: String?
    /// Extracted text, when extraction has run.
    public var text: String?
    /// Extracted structured fields (`total`, `currency`, `invoice_number`, ...), when any.
    public var fields: JSONValue?

    public init(filename: String, declaredType: String, size: Int, kind: String? = nil, text: String? = nil, fields: JSONValue? = nil) {
        self.filename = filename
        self.declaredType = declaredType
        self.size = size
        self.kind = kind
        self.text = text
        self.fields = fields
    }
}

/// Item priority, ordered from lowest to highest.
public enum Priority: String, Sendable, Codable, CaseIterable, Comparable {
    case low, normal, high, urgent

    private var rank: Int { Priority.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rank < rhs.rank }
}

/// Where an intake goes: the pipeline item to create.
public struct Route: Sendable, Codable, Equatable {
    public var pipeline: String
    public var stage: String
    public var priority: Priority
    public var assignee: String?
    public var tags: [String]
    /// Mustache template over `Facts.templateContext`.
    public var titleTemplate: String
    public var descriptionTemplate: String?

    public init(
        pipeline: String, stage: String, priority: Priority = .normal, assignee: String? = nil,
        tags: [String] = [], titleTemplate: String, descriptionTemplate: String? = nil
    ) {
        self.pipeline = pipeline
        self.stage = stage
        self.priority = priority
        self.assignee = assignee
        self.tags = tags
        self.titleTemplate = titleTemplate
        self.descriptionTemplate = descriptionTemplate
    }
}

/// The outcome of routing one intake, with the reasons, kept on the intake for later explanation.
/// Stored as JSON: every field added after the first release decodes with a default, so rows
/// written by older versions still load.
public struct Decision: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        /// Create an item on `route`.
        case route
        /// Hold for a human (`review` status) without creating anything.
        case review
        /// Drop deliberately (auto-replies, bounces...).
        case ignore
    }

    public var outcome: Outcome
    public var route: Route?
    /// Which mechanism decided: `default-route`, `rule:<id>`, `ai` or `ai-fallback:<rule id>`.
    public var decidedBy: String
    /// Human-readable steps that led here.
    public var trace: [String]
    /// What to do besides the item: replies, meeting requests, forwards, a mailbox action.
    public var followUps: FollowUps
    /// Structured trace: each rule looked at, each condition's value and result. Built on first
    /// read when the rules engine deferred it (`traces`).
    public var rules: [RuleTrace] {
        get { traces.value }
        set { traces = RuleTraces(newValue) }
    }
    /// The structured trace as handed over by the router, possibly not yet materialised.
    public var traces: RuleTraces
    /// The AI router call, when a rule asked for one.
    public var ai: AITrace?

    public init(
        outcome: Outcome, route: Route?, decidedBy: String, trace: [String], followUps: FollowUps = FollowUps(),
        rules: [RuleTrace] = [], ai: AITrace? = nil
    ) {
        self.init(outcome: outcome, route: route, decidedBy: decidedBy, trace: trace, followUps: followUps, traces: RuleTraces(rules), ai: ai)
    }

    public init(
        outcome: Outcome, route: Route?, decidedBy: String, trace: [String], followUps: FollowUps = FollowUps(),
        traces: RuleTraces, ai: AITrace? = nil
    ) {
        self.outcome = outcome
        self.route = route
        self.decidedBy = decidedBy
        self.trace = trace
        self.followUps = followUps
        self.traces = traces
        self.ai = ai
    }

    enum CodingKeys: String, CodingKey {
        case outcome, route, decidedBy, trace, followUps, rules, ai
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        outcome = try container.decode(Outcome.self, forKey: .outcome)
        route = try container.decodeIfPresent(Route.self, forKey: .route)
        decidedBy = try container.decode(String.self, forKey: .decidedBy)
        trace = try container.decodeIfPresent([String].self, forKey: .trace) ?? []
        followUps = try container.decodeIfPresent(FollowUps.self, forKey: .followUps) ?? FollowUps()
        traces = RuleTraces(try container.decodeIfPresent([RuleTrace].self, forKey: .rules) ?? [])
        ai = try container.decodeIfPresent(AITrace.self, forKey: .ai)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(outcome, forKey: .outcome)
        try container.encodeIfPresent(route, forKey: .route)
        try container.encode(decidedBy, forKey: .decidedBy)
        try container.encode(trace, forKey: .trace)
        try container.encode(followUps, forKey: .followUps)
        try container.encode(rules, forKey: .rules)
        try container.encodeIfPresent(ai, forKey: .ai)
    }
}

/// Decides where an intake goes. The default route from config implements it today; the rules
/// engine and AI router will implement the same protocol.
public protocol IntakeRouter: Sendable {
    func decide(_ facts: Facts) async throws -> Decision
}
