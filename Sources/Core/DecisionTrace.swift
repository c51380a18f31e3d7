import Synchronization

/// Actions a decision asks for besides the pipeline item. Carried out by follow-up jobs (replies by
/// SMTP, meetings by the scheduler, forwards by the outbound webhook sender, mailbox acks by the
/// IMAP source); routing only names them, from an allow-list written in the rules.
public struct FollowUps: Sendable, Codable, Equatable {
    public var replies: [ReplyRequest]
    public var meetings: [MeetingRequest]
    public var forwards: [ForwardRequest]
    /// Overrides the source's usual mailbox acknowledgement (move/flag) for this message.
    public var mailbox: MailboxRequest?

    public init(replies: [ReplyRequest] = [], meetings: [MeetingRequest] = [], forwards: [ForwardRequest] = [], mailbox: MailboxRequest? = nil) {
        self.replies = replies
        self.meetings = meetings
        self.forwards = forwards
        self.mailbox = mailbox
    }

    public var isEmpty: Bool { replies.isEmpty && meetings.isEmpty && forwards.isEmpty && mailbox == nil }

    enum CodingKeys: String, CodingKey { case replies, meetings, forwards, mailbox }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        replies = try container.decodeIfPresent([ReplyRequest].self, forKey: .replies) ?? []
        meetings = try container.decodeIfPresent([MeetingRequest].self, forKey: .meetings) ?? []
        forwards = try container.decodeIfPresent([ForwardRequest].self, forKey: .forwards) ?? []
        mailbox = try container.decodeIfPresent(MailboxRequest.self, forKey: .mailbox)
    }
}

/// Reply to the sender with a template from the rules file. The template's text is copied into the
/// decision so the reply job renders what was valid when the decision was made, even after a reload.
public struct ReplyRequest: Sendable, Codable, Equatable {
    public var template: String
    /// Mustache over `Facts.templateContext`.
    public var subjectTemplate: String
    public var bodyTemplate: String
    /// The rule that asked for it.
    public var rule: String
    /// Optional HTML alternative (Mustache, HTML-escaped values). Absent in decisions stored
    /// before it existed: they decode with nil.
    public var htmlTemplate: String?

    public init(template: String, subjectTemplate: String, bodyTemplate: String, rule: String, htmlTemplate: String? = nil) {
        self.template = template
        self.subjectTemplate = subjectTemplate
        self.bodyTemplate = bodyTemplate
        self.rule = rule
        self.htmlTemplate = htmlTemplate
    }
}

/// Meeting request parameters for the scheduler. Attendees come from the intake's own sender
/// field named here, never from free text or model output.
public struct MeetingRequest: Sendable, Codable, Equatable {
    public var titleTemplate: String
    public var durationMinutes: Int
    /// Which fact names the attendee: `from`, `reply_to` or `payload.<path>`.
    public var attendeeField: String
    /// Earliest start, in hours after the intake arrived.
    public var earliestStartHours: Int
    /// How many days ahead to look for a slot.
    public var withinDays: Int
    public var calendar: String?
    public var location: String?
    public var rule: String
    /// Which fact names the attendee's display name (`payload.<path>`); nil: the display name of
    /// the address the attendee came from.
    public var attendeeNameField: String?
    /// Where explicit proposed start times come from: `payload.<path>` (an ISO 8601 date-time or
    /// an array of them) or `text` (date-times written in the subject and text). nil: none.
    public var proposedTimesField: String?
    /// `payload.<path>` fields bounding a preferred window (ISO 8601 date or date-time); nil:
    /// `earliestStartHours` / `withinDays` alone.
    public var windowStartField: String?
    public var windowEndField: String?
    /// `payload.<path>` naming the requester's IANA time zone, used to write times in emails
    /// and to read zone-less proposed times; nil: the calendar's zone.
    public var attendeeTimeZoneField: String?

    public init(
        titleTemplate: String, durationMinutes: Int, attendeeField: String, earliestStartHours: Int, withinDays: Int, calendar: String?,
        location: String?, rule: String, attendeeNameField: String? = nil, proposedTimesField: String? = nil, windowStartField: String? = nil,
        windowEndField: String? = nil, attendeeTimeZoneField: String? = nil
    ) {
        self.titleTemplate = titleTemplate
        self.durationMinutes = durationMinutes
        self.attendeeField = attendeeField
        self.earliestStartHours = earliestStartHours
        self.withinDays = withinDays
        self.calendar = calendar
        self.location = location
        self.rule = rule
        self.attendeeNameField = attendeeNameField
        self.proposedTimesField = proposedTimesField
        self.windowStartField = windowStartField
        self.windowEndField = windowEndField
        self.attendeeTimeZoneField = attendeeTimeZoneField
    }
}

/// Send the intake to a configured outbound webhook.
public struct ForwardRequest: Sendable, Codable, Equatable {
    public var webhook: String
    public var rule: String

    public init(webhook: String, rule: String) {
        self.webhook = webhook
        self.rule = rule
    }
}

/// What to do with the message in its mailbox once the decision is committed.
public struct MailboxRequest: Sendable, Codable, Equatable {
    /// Folder to move the message to; nil leaves it where it is.
    public var moveTo: String?
    /// IMAP flags to add (`\\Seen`, `\\Flagged`, keywords).
    public var addFlags: [String]
    public var rule: String

    public init(moveTo: String?, addFlags: [String], rule: String) {
        self.moveTo = moveTo
        self.addFlags = addFlags
        self.rule = rule
    }
}

/// One rule as evaluated for one intake.
public struct RuleTrace: Sendable, Codable, Equatable {
    public var rule: String
    /// JSON pointer of the rule in its file (`/rules/3`).
    public var pointer: String
    public var matched: Bool
    /// Leaf conditions in evaluation order; short-circuited ones are absent.
    public var conditions: [ConditionTrace]
    /// What the rule did: `route sales/new`, `route ignored: earlier route wins`, `stop`...
    public var effects: [String]

    public init(rule: String, pointer: String, matched: Bool, conditions: [ConditionTrace], effects: [String]) {
        self.rule = rule
        self.pointer = pointer
        self.matched = matched
        self.conditions = conditions
        self.effects = effects
    }
}

/// One leaf condition: what it compared and what came out.
public struct ConditionTrace: Sendable, Codable, Equatable {
    /// JSON pointer of the condition in its file (`/rules/3/when/all/1`).
    public var pointer: String
    public var field: String
    public var op: String
    /// The condition's value as written; nil for `exists` without a value.
    public var expected: String?
    /// The values the field had (shortened); empty when the field was absent.
    public var actual: [String]
    public var result: Bool

    public init(pointer: String, field: String, op: String, expected: String?, actual: [String], result: Bool) {
        self.pointer = pointer
        self.field = field
        self.op = op
        self.expected = expected
        self.actual = actual
        self.result = result
    }
}

/// The AI router's part in a decision.
public struct AITrace: Sendable, Codable, Equatable {
    public var rule: String
    public var model: String
    public var promptVersion: String
    /// SHA-256 (hex) of the exact input sent, also the cache key.
    public var inputHash: String
    public var candidates: [String]
    public var minimumConfidence: Double
    /// The model's raw message content, shortened; nil when no answer came.
    public var rawOutput: String?
    public var destination: String?
    public var confidence: Double?
    public var reasoning: String?
    /// `accepted`, or why the fallback route was taken (`low-confidence`, `refusal`, `invalid-output`, `error: ...`).
    public var outcome: String
    public var cached: Bool
    public var attempts: Int
    public var latencyMilliseconds: Int

    public init(
        rule: String, model: String, promptVersion: String, inputHash: String, candidates: [String], minimumConfidence: Double,
        rawOutput: String?, destination: String?, confidence: Double?, reasoning: String?, outcome: String, cached: Bool,
        attempts: Int, latencyMilliseconds: Int
    ) {
        self.rule = rule
        self.model = model
        self.promptVersion = promptVersion
        self.inputHash = inputHash
        self.candidates = candidates
        self.minimumConfidence = minimumConfidence
        self.rawOutput = rawOutput
        self.destination = destination
        self.confidence = confidence
        self.reasoning = reasoning
        self.outcome = outcome
        self.cached = cached
        self.attempts = attempts
        self.latencyMilliseconds = latencyMilliseconds
    }
}

/// A decision's structured rule trace, built on first read.
///
/// The rules engine records what it evaluated compactly (leaf indexes and result bits) and hands
/// over a closure that turns that record into `RuleTrace`s; most decisions are stored as soon as
/// they are made, so the closure runs when the decision is encoded — once, whoever asks first.
/// Equality and encoding see the materialised traces, so a deferred trace and an eager one with
/// the same content are indistinguishable.
public struct RuleTraces: Sendable, Equatable {
    private let box: Box

    public init(_ traces: [RuleTrace] = []) {
        box = Box(.ready(traces))
    }

    /// `build` runs at most once, under a lock, on the first read.
    public init(deferred build: @escaping @Sendable () -> [RuleTrace]) {
        box = Box(.pending(build))
    }

    /// The traces, materialised now if they were not yet.
    public var value: [RuleTrace] {
        box.state.withLock { state in
            switch state {
            case .ready(let traces):
                return traces
            case .pending(let build):
                let traces = build()
                state = .ready(traces)
                return traces
            }
        }
    }

    /// Whether reading `value` would run the deferred builder (for tests and benchmarks).
    public var isMaterialized: Bool {
        box.state.withLock { state in
            if case .ready = state { return true }
            return false
        }
    }

    public static func == (lhs: RuleTraces, rhs: RuleTraces) -> Bool {
        lhs.box === rhs.box || lhs.value == rhs.value
    }

    private final class Box: Sendable {
        enum State {
            case ready([RuleTrace])
            case pending(@Sendable () -> [RuleTrace])
        }

        let state: Mutex<State>

        init(_ state: State) { self.state = Mutex(state) }
    }
}
