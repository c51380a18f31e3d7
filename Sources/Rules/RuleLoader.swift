public import Core
public import Foundation

/// One problem in a rules file: which file, where in it (RFC 6901 JSON pointer) and what is wrong.
public struct RuleIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// `""` is the whole document; `/rules/2/when/all/0/op` a member.
    public var pointer: String
    public var message: String

    public init(file: String, pointer: String, message: String) {
        self.file = file
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(file)#\(pointer): \(message)" }
}

/// Every problem found in a rules file, not just the first.
public struct RuleFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var issues: [RuleIssue]

    public init(file: String, issues: [RuleIssue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        let noun = issues.count == 1 ? "error" : "errors"
        return "\(file): \(issues.count) \(noun)\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// What a rules file is checked against: the organizations (pipelines, stages, outbound webhooks)
/// and the template syntax.
public struct RuleContext: Sendable {
    public var organizations: [OrganizationConfig]
    /// Returns why a Mustache template does not parse, or nil when it does. The daemon passes the
    /// item composer's check so rules and items accept the same templates.
    public var checkTemplate: @Sendable (String) -> String?
    /// Configured calendar names (`scheduling.calendars`) a `schedule.calendar` must name; nil:
    /// not checked.
    public var calendars: Set<String>?
    /// Meeting lengths (seconds) each calendar offers; a `schedule` naming a calendar must ask
    /// for one of them. nil: not checked.
    public var calendarDurations: [String: [TimeInterval]]?

    public init(
        organizations: [OrganizationConfig], checkTemplate: @escaping @Sendable (String) -> String? = { _ in nil }, calendars: Set<String>? = nil,
        calendarDurations: [String: [TimeInterval]]? = nil
    ) {
        self.organizations = organizations
        self.checkTemplate = checkTemplate
        self.calendars = calendars
        self.calendarDurations = calendarDurations
    }

    /// Calendar names and durations from the `scheduling` section.
    public init(organizations: [OrganizationConfig], checkTemplate: @escaping @Sendable (String) -> String?, scheduling: SchedulingConfig) {
        self.init(
            organizations: organizations, checkTemplate: checkTemplate, calendars: Set(scheduling.calendars.keys),
            calendarDurations: scheduling.calendars.mapValues(\.durations))
    }
}

/// Reads and validates a rules file (format version 1), collecting every problem with its JSON pointer.
public struct RuleLoader {
    public static let supportedVersion = 1
    static let fieldNames = [
        "source", "source_kind", "organization", "subject", "body",
        "from", "from.domain", "from.name", "to", "to.domain", "to.name", "cc", "cc.domain", "cc.name",
        "reply_to", "reply_to.domain", "reply_to.name", "header.<Name>",
        "attachment.filename", "attachment.type", "attachment.count",
        "document.kind", "document.filename", "document.type", "document.text", "document.count", "document.fields.<path>", "invoice.<path>",
        "payload.<path>", "received_at", "message.date", "time.hour", "time.of_day", "time.weekday",
    ]
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    private let file: String
    private let context: RuleContext
    private var issues: [RuleIssue] = []
    private var templates: [String: ReplyTemplate] = [:]
    private var defaultTimeZone = TimeZone(identifier: "UTC") ?? TimeZone.current
    /// Value-cache slots: one per field, and for time fields one per field and time zone.
    private var slots: [SlotKey: Int] = [:]
    private var leaves: [Leaf] = []

    private struct SlotKey: Hashable {
        var field: FieldRef
        var timeZone: String?
    }

    private init(file: String, context: RuleContext) {
        self.file = file
        self.context = context
    }

    /// Reads `path` and validates it.
    public static func load(path: String, context: RuleContext) throws(RuleFileError) -> RuleSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions?)" : "does not exist"
            throw RuleFileError(file: path, issues: [RuleIssue(file: path, pointer: "", message: "rules file \(reason)")])
        }
        return try parse(data, file: path, context: context)
    }

    /// Validates the bytes of a rules file; `file` names it in errors.
    public static func parse(_ data: Data, file: String, context: RuleContext) throws(RuleFileError) -> RuleSet {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw RuleFileError(file: file, issues: [RuleIssue(file: file, pointer: "", message: "not valid JSON")])
        }
        var loader = RuleLoader(file: file, context: context)
        let rules = loader.readDocument(root)
        guard loader.issues.isEmpty else { throw RuleFileError(file: file, issues: loader.issues) }
        var byOrganization: [String: [Rule]] = [:]
        var leafCounts: [String: Int] = [:]
        for rule in rules {
            byOrganization[rule.organization, default: []].append(rule)
            leafCounts[rule.organization, default: 0] += rule.nodes.count { $0.kind == .leaf }
        }
        return RuleSet(file: file, rulesByOrganization: byOrganization, templates: loader.templates, fieldSlots: loader.slots.count, leaves: loader.leaves, leafCounts: leafCounts)
    }

    /// RFC 6901: `~` → `~0`, `/` → `~1`.
    static func pointer(_ base: String, _ token: String) -> String {
        base + "/" + token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    static func pointer(_ base: String, _ index: Int) -> String { base + "/\(index)" }

    // MARK: - Document

    private mutating func readDocument(_ root: JSONValue) -> [Rule] {
        guard let top = object(root, at: "", keys: ["$schema", "version", "time_zone", "templates", "rules"]) else { return [] }
        if let version = top["version"] {
            if version != .number(Double(Self.supportedVersion)) {
                issue("/version", "expected \(Self.supportedVersion) (the only rules format this version reads), got \(version.displayText)")
            }
        } else {
            issue("/version", "missing; expected \(Self.supportedVersion)")
        }
        if let zone = top["time_zone"] {
            if let name = zone.stringValue, let timeZone = TimeZone(identifier: name) {
                defaultTimeZone = timeZone
            } else {
                issue("/time_zone", "expected an IANA time zone name such as \"Europe/Berlin\", got \(zone.displayText)")
            }
        }
        if let list = top["templates"] {
            readTemplates(list)
        }
        guard let list = top["rules"] else {
            issue("/rules", "missing; expected an array of rules")
            return []
        }
        guard case .array(let elements) = list else {
            issue("/rules", "expected an array, got \(list.kindName)")
            return []
        }
        var rules: [Rule] = []
        var seen: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            let path = Self.pointer("/rules", index)
            if let id = element["id"]?.stringValue {
                if let first = seen[id] {
                    issue(Self.pointer(path, "id"), "duplicate rule id \"\(id)\" (first at /rules/\(first))")
                } else {
                    seen[id] = index
                }
            }
            if let rule = readRule(element, at: path) { rules.append(rule) }
        }
        return rules
    }

    private mutating func readTemplates(_ value: JSONValue) {
        guard let entries = object(value, at: "/templates", keys: nil) else { return }
        for (id, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let path = Self.pointer("/templates", id)
            checkIdentifier(id, at: path)
            guard let fields = object(entry, at: path, keys: ["subject", "body", "html"]) else { continue }
            let subject = requiredString(fields, "subject", at: path)
            let body = requiredString(fields, "body", at: path)
            let html = optionalString(fields, "html", at: path)
            if let subject { checkTemplate(subject, at: Self.pointer(path, "subject")) }
            if let body { checkTemplate(body, at: Self.pointer(path, "body")) }
            if let html { checkTemplate(html, at: Self.pointer(path, "html")) }
            if let subject, let body { templates[id] = ReplyTemplate(id: id, subject: subject, body: body, html: html) }
        }
    }

    // MARK: - Rules

    private mutating func readRule(_ value: JSONValue, at path: String) -> Rule? {
        guard let fields = object(value, at: path, keys: ["id", "description", "organization", "enabled", "when", "then", "stop", "override"]) else { return nil }
        let id = requiredString(fields, "id", at: path) ?? ""
        if fields["id"]?.stringValue != nil { checkIdentifier(id, at: Self.pointer(path, "id")) }
        _ = optionalString(fields, "description", at: path)
        let enabled = optionalBool(fields, "enabled", at: path) ?? true
        let stop = optionalBool(fields, "stop", at: path) ?? false
        let override = optionalBool(fields, "override", at: path) ?? false

        var organization: OrganizationConfig?
        if let orgID = optionalString(fields, "organization", at: path) {
            organization = context.organizations.first { $0.id == orgID }
            if organization == nil {
                issue(Self.pointer(path, "organization"), "expected one of the configured organizations (\(context.organizations.map(\.id).joined(separator: ", "))), got \"\(orgID)\"")
            }
        } else if fields["organization"] == nil {
            if context.organizations.count == 1 {
                organization = context.organizations.first
            } else {
                issue(Self.pointer(path, "organization"), "missing; required because the configuration has \(context.organizations.count) organizations (\(context.organizations.map(\.id).joined(separator: ", ")))")
            }
        }

        let condition = fields["when"].flatMap { readCondition($0, at: Self.pointer(path, "when")) }
        var actions: RuleActions?
        if let then = fields["then"] {
            actions = readActions(then, rule: id, organization: organization, at: Self.pointer(path, "then"))
        } else {
            issue(Self.pointer(path, "then"), "missing; expected an object of actions (route, ask_ai, ignore, reply, schedule, forward, mailbox)")
        }
        guard enabled, let actions, let organization else { return nil }
        var nodes: [ConditionNode] = []
        if let condition { flatten(condition, into: &nodes) }
        return Rule(id: id, pointer: path, organization: organization.id, condition: condition, nodes: nodes, actions: actions, stop: stop, override: override)
    }

    // MARK: - Conditions

    /// Appends `condition` in pre-order; leaves go to the file's leaf table.
    private mutating func flatten(_ condition: Condition, into nodes: inout [ConditionNode]) {
        let start = nodes.count
        let kind: ConditionNode.Kind
        var leafIndex: Int32 = -1
        // Placeholder, completed once the subtree's end is known.
        nodes.append(ConditionNode(kind: .leaf, end: 0, leaf: -1))
        switch condition {
        case .all(let children):
            kind = .all
            for child in children { flatten(child, into: &nodes) }
        case .any(let children):
            kind = .any
            for child in children { flatten(child, into: &nodes) }
        case .not(let child):
            kind = .not
            flatten(child, into: &nodes)
        case .leaf(let leaf):
            kind = .leaf
            leafIndex = Int32(leaves.count)
            leaves.append(leaf)
        }
        nodes[start] = ConditionNode(kind: kind, end: Int32(nodes.count), leaf: leafIndex)
    }

    private mutating func readCondition(_ value: JSONValue, at path: String) -> Condition? {
        guard case .object(let fields) = value else {
            issue(path, "expected a condition object ({\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"field\", \"op\", \"value\"}), got \(value.kindName)")
            return nil
        }
        for group in ["all", "any"] where fields[group] != nil {
            guard object(value, at: path, keys: [group]) != nil else { return nil }
            let groupPath = Self.pointer(path, group)
            guard case .array(let elements)? = fields[group] else {
                issue(groupPath, "expected an array of conditions, got \((fields[group] ?? .null).kindName)")
                return nil
            }
            if elements.isEmpty { issue(groupPath, "expected at least one condition") }
            let children = elements.enumerated().map { readCondition($1, at: Self.pointer(groupPath, $0)) }
            guard children.allSatisfy({ $0 != nil }) else { return nil }
            let compiled = children.compactMap { $0 }
            return group == "all" ? .all(compiled) : .any(compiled)
        }
        if let inner = fields["not"] {
            guard object(value, at: path, keys: ["not"]) != nil else { return nil }
            return readCondition(inner, at: Self.pointer(path, "not")).map { .not($0) }
        }
        return readLeaf(fields, at: path).map { .leaf($0) }
    }

    private mutating func readLeaf(_ fields: [String: JSONValue], at path: String) -> Leaf? {
        guard object(.object(fields), at: path, keys: ["field", "op", "value", "case_sensitive", "time_zone"]) != nil else { return nil }
        guard let fieldText = requiredString(fields, "field", at: path), let opText = requiredString(fields, "op", at: path) else { return nil }
        let caseSensitive = optionalBool(fields, "case_sensitive", at: path) ?? false
        var timeZone = defaultTimeZone
        if let zone = fields["time_zone"] {
            if let name = zone.stringValue, let named = TimeZone(identifier: name) {
                timeZone = named
            } else {
                issue(Self.pointer(path, "time_zone"), "expected an IANA time zone name such as \"Europe/Berlin\", got \(zone.displayText)")
            }
        }
        guard let field = parseField(fieldText) else {
            issue(Self.pointer(path, "field"), "unknown field \"\(fieldText)\"; expected one of \(Self.fieldNames.joined(separator: ", "))")
            return nil
        }
        guard let op = Operator(rawValue: opText) else {
            issue(Self.pointer(path, "op"), "unknown operator \"\(opText)\"; expected one of \(Operator.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let valuePath = Self.pointer(path, "value")
        let value = fields["value"]
        guard let operand = readOperand(value, op: op, field: field, fieldText: fieldText, caseSensitive: caseSensitive, at: valuePath) else { return nil }
        var needle: [UInt8] = []
        if case .string(let text) = operand { needle = Array(text.utf8) }
        let key: SlotKey
        switch field {
        // Time fields depend on the condition's time zone.
        case .timeHour, .timeOfDay, .weekday: key = SlotKey(field: field, timeZone: timeZone.identifier)
        default: key = SlotKey(field: field, timeZone: nil)
        }
        let slot = slots[key] ?? slots.count
        slots[key] = slot
        return Leaf(pointer: path, fieldText: fieldText, field: field, op: op, operand: operand, caseSensitive: caseSensitive, calendar: calendar, expectedText: value?.displayText, needle: needle, slot: slot)
    }

    private mutating func readOperand(_ value: JSONValue?, op: Operator, field: FieldRef, fieldText: String, caseSensitive: Bool, at path: String) -> Operand? {
        func normalised(_ text: String) -> String {
            if case .weekday = field { return text.lowercased() }
            return caseSensitive ? text : text.lowercased()
        }
        switch op {
        case .exists:
            guard let value else { return .bool(true) }
            guard case .bool(let flag) = value else {
                issue(path, "expected true or false for exists, got \(value.kindName)")
                return nil
            }
            return .bool(flag)
        case .lt, .lte, .gt, .gte:
            guard let value else {
                issue(path, "missing; \(op.rawValue) needs a number, a date (ISO 8601) or, for time.of_day, \"HH:MM\"")
                return nil
            }
            if case .timeOfDay = field {
                guard let text = value.stringValue, let minutes = Self.minutes(text) else {
                    issue(path, "expected a time of day \"HH:MM\" (00:00-23:59), got \(value.displayText)")
                    return nil
                }
                return .number(Double(minutes))
            }
            switch value {
            case .number(let number):
                return .number(number)
            case .string(let text):
                if let date = Self.date(text) { return .date(date) }
                issue(path, "expected a number or an ISO 8601 date/time (\"2026-01-31\" or \"2026-01-31T09:00:00Z\"), got \"\(text)\"")
                return nil
            default:
                issue(path, "expected a number or an ISO 8601 date/time, got \(value.kindName)")
                return nil
            }
        case .in:
            guard case .array(let elements)? = value, !elements.isEmpty else {
                issue(path, "expected a non-empty array of strings or numbers for in, got \(value.map(\.kindName) ?? "nothing")")
                return nil
            }
            if elements.allSatisfy({ $0.stringValue != nil }) {
                let strings = elements.compactMap(\.stringValue)
                if case .weekday = field { checkWeekdays(strings, at: path) }
                return .strings(Set(strings.map(normalised)))
            }
            let numbers = elements.compactMap { element -> Double? in
                if case .number(let number) = element { return number }
                return nil
            }
            guard numbers.count == elements.count else {
                issue(path, "expected an array of only strings or only numbers")
                return nil
            }
            return .numbers(Set(numbers))
        case .equals, .notEquals:
            switch value {
            case .string(let text)?:
                if case .weekday = field { checkWeekdays([text], at: path) }
                return .string(normalised(text))
            case .number(let number)?: return .number(number)
            case .bool(let flag)?: return .bool(flag)
            default:
                issue(path, "expected a string, number or boolean for \(op.rawValue), got \(value.map(\.kindName) ?? "nothing")")
                return nil
            }
        case .contains, .startsWith, .endsWith:
            guard let text = value?.stringValue, !text.isEmpty else {
                issue(path, "expected a non-empty string for \(op.rawValue), got \(value.map(\.kindName) ?? "nothing")")
                return nil
            }
            return .string(normalised(text))
        case .matches:
            guard let pattern = value?.stringValue, !pattern.isEmpty else {
                issue(path, "expected a regular expression (string) for matches, got \(value.map(\.kindName) ?? "nothing")")
                return nil
            }
            do {
                let expression = try NSRegularExpression(pattern: pattern, options: caseSensitive ? [] : [.caseInsensitive])
                return .regex(CompiledRegex(expression: expression, pattern: pattern, caseInsensitive: !caseSensitive))
            } catch {
                issue(path, "expected a valid regular expression (ICU syntax), got \"\(pattern)\"")
                return nil
            }
        }
    }

    private mutating func checkWeekdays(_ names: [String], at path: String) {
        for name in names where !Self.weekdays.contains(name.lowercased()) {
            issue(path, "expected weekday names \(Self.weekdays.joined(separator: ", ")), got \"\(name)\"")
        }
    }

    /// "HH:MM" → minutes after midnight.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2,
              let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...23).contains(hours), (0...59).contains(minutes) else { return nil }
        return hours * 60 + minutes
    }

    /// ISO 8601 date (`2026-01-31`, UTC midnight) or date-time with offset.
    static func date(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if text.count == 10, let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return date }
        return nil
    }

    func parseField(_ text: String) -> FieldRef? {
        switch text {
        case "source": return .source
        case "source_kind": return .sourceKind
        case "organization": return .organization
        case "subject": return .subject
        case "body": return .body
        case "attachment.filename": return .attachmentFilename
        case "attachment.type": return .attachmentType
        case "attachment.count": return .attachmentCount
        case "document.kind": return .documentKind
        case "document.filename": return .documentFilename
        case "document.type": return .documentType
        case "document.text": return .documentText
        case "document.count": return .documentCount
        case "received_at": return .receivedAt
        case "message.date": return .messageDate
        case "time.hour": return .timeHour
        case "time.of_day": return .timeOfDay
        case "time.weekday": return .weekday
        default: break
        }
        for list in AddressList.allCases {
            if text == list.rawValue { return .address(list, .address) }
            if text.hasPrefix(list.rawValue + "."), let part = AddressPart(rawValue: String(text.dropFirst(list.rawValue.count + 1))) {
                return .address(list, part)
            }
        }
        if text.hasPrefix("header."), text.count > 7 {
            return .header(String(text.dropFirst(7)).lowercased())
        }
        if text.hasPrefix("payload."), let path = Self.path(String(text.dropFirst(8))) { return .payload(path) }
        if text.hasPrefix("document.fields."), let path = Self.path(String(text.dropFirst(16))) { return .documentField(path) }
        // `invoice.total` reads the same extracted fields as `document.fields.total` (docs/invoice-extraction.md).
        if text.hasPrefix("invoice."), let path = Self.path(String(text.dropFirst(8))) { return .documentField(path) }
        return nil
    }

    /// `customer.emails[0]` or `items.0.name` → segments.
    static func path(_ text: String) -> [PathSegment]? {
        var segments: [PathSegment] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { return nil }
            var name = Substring(part)
            var indexes: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                guard let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]), index >= 0 else { return nil }
                indexes.insert(index, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty {
                if let index = Int(name), index >= 0, indexes.isEmpty, !segments.isEmpty {
                    segments.append(.index(index))
                } else {
                    segments.append(.key(String(name)))
                }
            }
            segments.append(contentsOf: indexes.map { .index($0) })
        }
        return segments.isEmpty ? nil : segments
    }

    // MARK: - Actions

    private mutating func readActions(_ value: JSONValue, rule: String, organization: OrganizationConfig?, at path: String) -> RuleActions? {
        guard let fields = object(value, at: path, keys: ["route", "ask_ai", "ignore", "reply", "schedule", "forward", "mailbox"]) else { return nil }
        if fields.isEmpty { issue(path, "expected at least one action (route, ask_ai, ignore, reply, schedule, forward, mailbox)") }
        let destinations = ["route", "ask_ai", "ignore"].filter { fields[$0] != nil }
        if destinations.count > 1 {
            issue(path, "expected at most one of route, ask_ai and ignore, got \(destinations.joined(separator: " and "))")
        }
        var actions = RuleActions()
        var ok = true
        if let route = fields["route"] {
            if let parsed = readRoute(route, organization: organization, at: Self.pointer(path, "route")) { actions.destination = .route(parsed) } else { ok = false }
        }
        if let ask = fields["ask_ai"] {
            if let parsed = readAskAI(ask, organization: organization, at: Self.pointer(path, "ask_ai")) { actions.destination = .askAI(parsed) } else { ok = false }
        }
        if let ignore = fields["ignore"] {
            let ignorePath = Self.pointer(path, "ignore")
            switch ignore {
            case .bool(true): actions.destination = .ignore(reason: nil)
            case .object:
                if let object = object(ignore, at: ignorePath, keys: ["reason"]) {
                    actions.destination = .ignore(reason: optionalString(object, "reason", at: ignorePath))
                }
            default: issue(ignorePath, "expected true or {\"reason\": \"...\"}, got \(ignore.displayText)")
            }
        }
        if let reply = fields["reply"] {
            let replyPath = Self.pointer(path, "reply")
            if let object = object(reply, at: replyPath, keys: ["template"]), let id = requiredString(object, "template", at: replyPath) {
                if let template = templates[id] {
                    actions.reply = ReplyRequest(template: id, subjectTemplate: template.subject, bodyTemplate: template.body, rule: rule, htmlTemplate: template.html)
                } else {
                    issue(Self.pointer(replyPath, "template"), "unknown template \"\(id)\"; expected one of this file's templates (\(templates.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        if let schedule = fields["schedule"] {
            actions.schedule = readSchedule(schedule, rule: rule, at: Self.pointer(path, "schedule"))
        }
        if let forward = fields["forward"] {
            let forwardPath = Self.pointer(path, "forward")
            if let object = object(forward, at: forwardPath, keys: ["webhook"]), let id = requiredString(object, "webhook", at: forwardPath), let organization {
                if organization.outboundWebhooks.contains(where: { $0.id == id }) {
                    actions.forward = ForwardRequest(webhook: id, rule: rule)
                } else {
                    issue(Self.pointer(forwardPath, "webhook"), "unknown outbound webhook \"\(id)\"; expected one of organization \(organization.id)'s outbound_webhooks (\(organization.outboundWebhooks.map(\.id).joined(separator: ", ")))")
                }
            }
        }
        if let mailbox = fields["mailbox"] {
            let mailboxPath = Self.pointer(path, "mailbox")
            if let object = object(mailbox, at: mailboxPath, keys: ["move_to", "add_flags"]) {
                let moveTo = optionalString(object, "move_to", at: mailboxPath)
                let flags = stringList(object, "add_flags", at: mailboxPath) ?? []
                if moveTo == nil && flags.isEmpty { issue(mailboxPath, "expected move_to or add_flags") }
                actions.mailbox = MailboxRequest(moveTo: moveTo, addFlags: flags, rule: rule)
            }
        }
        return ok ? actions : nil
    }

    private mutating func readRoute(_ value: JSONValue, organization: OrganizationConfig?, at path: String, extraKeys: Set<String> = []) -> Route? {
        guard let fields = object(value, at: path, keys: Set(["pipeline", "stage", "priority", "assignee", "tags", "title", "description"]).union(extraKeys)) else { return nil }
        guard let pipelineID = requiredString(fields, "pipeline", at: path) else { return nil }
        guard let organization else { return nil }
        guard let pipeline = organization.pipelines.first(where: { $0.id == pipelineID }) else {
            issue(Self.pointer(path, "pipeline"), "unknown pipeline \"\(pipelineID)\"; expected one of organization \(organization.id)'s pipelines (\(organization.pipelines.map(\.id).joined(separator: ", ")))")
            return nil
        }
        let stage = optionalString(fields, "stage", at: path) ?? pipeline.stages.first?.id ?? ""
        if !pipeline.stages.contains(where: { $0.id == stage }) {
            issue(Self.pointer(path, "stage"), "unknown stage \"\(stage)\"; expected a stage of pipeline \(pipelineID) (\(pipeline.stages.map(\.id).joined(separator: ", ")))")
        }
        var priority = Priority.normal
        if let text = optionalString(fields, "priority", at: path) {
            if let parsed = Priority(rawValue: text) {
                priority = parsed
            } else {
                issue(Self.pointer(path, "priority"), "expected one of \(Priority.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
        }
        let assignee = optionalString(fields, "assignee", at: path)
        let tags = stringList(fields, "tags", at: path) ?? []
        let title = optionalString(fields, "title", at: path) ?? organization.defaultRoute.titleTemplate
        if title.isEmpty { issue(Self.pointer(path, "title"), "expected a non-empty Mustache template") }
        checkTemplate(title, at: Self.pointer(path, "title"))
        let description = optionalString(fields, "description", at: path)
        if let description { checkTemplate(description, at: Self.pointer(path, "description")) }
        return Route(pipeline: pipelineID, stage: stage, priority: priority, assignee: assignee, tags: tags, titleTemplate: title, descriptionTemplate: description)
    }

    private mutating func readAskAI(_ value: JSONValue, organization: OrganizationConfig?, at path: String) -> AskAI? {
        guard let fields = object(value, at: path, keys: ["candidates", "min_confidence", "fallback"]) else { return nil }
        var candidates: [AskAI.Candidate] = []
        let candidatesPath = Self.pointer(path, "candidates")
        if case .array(let list)? = fields["candidates"], !list.isEmpty {
            var seen = Set<String>()
            for (index, element) in list.enumerated() {
                let elementPath = Self.pointer(candidatesPath, index)
                guard let route = readRoute(element, organization: organization, at: elementPath, extraKeys: ["about"]) else { continue }
                let about = element["about"].flatMap { value -> String? in
                    if value.stringValue == nil { issue(Self.pointer(elementPath, "about"), "expected a string, got \(value.kindName)") }
                    return value.stringValue
                } ?? ""
                if !seen.insert(route.pipeline).inserted {
                    issue(Self.pointer(elementPath, "pipeline"), "duplicate candidate pipeline \"\(route.pipeline)\"; the model answers with a pipeline id, so each may appear once")
                }
                candidates.append(AskAI.Candidate(route: route, about: about))
            }
        } else {
            issue(candidatesPath, "expected a non-empty array of candidate routes ({\"pipeline\", \"stage\", \"about\", ...})")
        }
        var minimum = 0.7
        if let value = fields["min_confidence"] {
            if case .number(let number) = value, (0...1).contains(number) {
                minimum = number
            } else {
                issue(Self.pointer(path, "min_confidence"), "expected a number in 0...1, got \(value.displayText)")
            }
        }
        var fallback: AskAI.Fallback?
        let fallbackPath = Self.pointer(path, "fallback")
        switch fields["fallback"] {
        case nil: issue(fallbackPath, "missing; expected \"review\" or a route object for answers that cannot be used")
        case .string("review")?: fallback = .review
        case .object?: fallback = readRoute(fields["fallback"] ?? .null, organization: organization, at: fallbackPath).map { .route($0) }
        case let other?: issue(fallbackPath, "expected \"review\" or a route object, got \(other.displayText)")
        }
        guard let fallback, !candidates.isEmpty else { return nil }
        return AskAI(candidates: candidates, minimumConfidence: minimum, fallback: fallback)
    }

    private mutating func readSchedule(_ value: JSONValue, rule: String, at path: String) -> MeetingRequest? {
        guard let fields = object(value, at: path, keys: [
            "title", "duration_minutes", "attendee", "earliest_start_hours", "within_days", "calendar", "location", "attendee_name",
            "proposed_times", "window_start", "window_end", "attendee_time_zone",
        ]) else { return nil }
        let title = optionalString(fields, "title", at: path) ?? "Call with {{from}}"
        checkTemplate(title, at: Self.pointer(path, "title"))
        let duration = integer(fields, "duration_minutes", at: path, range: 5...480, default: 30)
        let attendee = optionalString(fields, "attendee", at: path) ?? "from"
        if !(attendee == "from" || attendee == "reply_to" || (attendee.hasPrefix("payload.") && Self.path(String(attendee.dropFirst(8))) != nil)) {
            issue(Self.pointer(path, "attendee"), "expected from, reply_to or payload.<path> (attendees come from the intake, never from free text), got \"\(attendee)\"")
        }
        let earliest = integer(fields, "earliest_start_hours", at: path, range: 0...720, default: 24)
        let within = integer(fields, "within_days", at: path, range: 1...90, default: 14)
        let calendar = optionalString(fields, "calendar", at: path)
        if let calendar, let known = context.calendars, !known.contains(calendar) {
            issue(Self.pointer(path, "calendar"), "unknown calendar \"\(calendar)\"; expected one of scheduling.calendars (\(known.isEmpty ? "none configured" : known.sorted().joined(separator: ", ")))")
        } else if let calendar, let offered = context.calendarDurations?[calendar], !offered.contains(TimeInterval(duration * 60)) {
            issue(Self.pointer(path, "duration_minutes"), "calendar \"\(calendar)\" does not offer \(duration) minutes; its durations are \(offered.map { "\(Int($0 / 60))" }.joined(separator: ", ")) minutes")
        }
        // Form fields the request reads its details from: payload paths only (`text` also for proposed times).
        func payloadField(_ key: String, alsoText: Bool = false) -> String? {
            guard let field = optionalString(fields, key, at: path) else { return nil }
            if alsoText, field == "text" { return field }
            guard field.hasPrefix("payload."), Self.path(String(field.dropFirst(8))) != nil else {
                issue(Self.pointer(path, key), "expected payload.<path>\(alsoText ? " or text" : ""), got \"\(field)\"")
                return nil
            }
            return field
        }
        return MeetingRequest(
            titleTemplate: title, durationMinutes: duration, attendeeField: attendee, earliestStartHours: earliest, withinDays: within,
            calendar: calendar, location: optionalString(fields, "location", at: path), rule: rule,
            attendeeNameField: payloadField("attendee_name"), proposedTimesField: payloadField("proposed_times", alsoText: true),
            windowStartField: payloadField("window_start"), windowEndField: payloadField("window_end"),
            attendeeTimeZoneField: payloadField("attendee_time_zone")
        )
    }

    // MARK: - Typed readers that record issues

    private mutating func issue(_ pointer: String, _ message: String) {
        issues.append(RuleIssue(file: file, pointer: pointer, message: message))
    }


    /// An object whose keys are all in `keys` (nil: any key).
    private mutating func object(_ value: JSONValue, at path: String, keys: Set<String>?) -> [String: JSONValue]? {
        guard case .object(let fields) = value else {
            issue(path, "expected an object, got \(value.kindName)")
            return nil
        }
        if let keys {
            for key in fields.keys.sorted() where !keys.contains(key) {
                issue(Self.pointer(path, key), "unknown key; expected one of \(keys.sorted().joined(separator: ", "))")
            }
        }
        return fields
    }

    private mutating func requiredString(_ fields: [String: JSONValue], _ key: String, at path: String) -> String? {
        guard let value = fields[key] else {
            issue(Self.pointer(path, key), "missing; expected a string")
            return nil
        }
        guard let text = value.stringValue else {
            issue(Self.pointer(path, key), "expected a string, got \(value.kindName)")
            return nil
        }
        return text
    }

    private mutating func optionalString(_ fields: [String: JSONValue], _ key: String, at path: String) -> String? {
        guard let value = fields[key], value != .null else { return nil }
        guard let text = value.stringValue else {
            issue(Self.pointer(path, key), "expected a string, got \(value.kindName)")
            return nil
        }
        return text
    }

    private mutating func optionalBool(_ fields: [String: JSONValue], _ key: String, at path: String) -> Bool? {
        guard let value = fields[key] else { return nil }
        guard case .bool(let flag) = value else {
            issue(Self.pointer(path, key), "expected true or false, got \(value.kindName)")
            return nil
        }
        return flag
    }

    private mutating func stringList(_ fields: [String: JSONValue], _ key: String, at path: String) -> [String]? {
        guard let value = fields[key] else { return nil }
        guard case .array(let elements) = value else {
            issue(Self.pointer(path, key), "expected an array of strings, got \(value.kindName)")
            return nil
        }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            if let text = element.stringValue { strings.append(text) } else { issue(Self.pointer(Self.pointer(path, key), index), "expected a string, got \(element.kindName)") }
        }
        return strings
    }

    private mutating func integer(_ fields: [String: JSONValue], _ key: String, at path: String, range: ClosedRange<Int>, default fallback: Int) -> Int {
        guard let value = fields[key] else { return fallback }
        guard case .number(let number) = value, let int = Int(exactly: number), range.contains(int) else {
            issue(Self.pointer(path, key), "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(value.displayText)")
            return fallback
        }
        return int
    }

    private mutating func checkIdentifier(_ text: String, at path: String) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_")
        if text.isEmpty || text.count > 64 || !text.allSatisfy({ allowed.contains($0) }) || text.first == "-" || text.first == "_" {
            issue(path, "expected 1-64 characters of a-z, 0-9, '-' or '_' starting with a letter or digit, got \"\(text)\"")
        }
    }

    private mutating func checkTemplate(_ template: String, at path: String) {
        if let problem = context.checkTemplate(template) {
            issue(path, "expected a valid Mustache template: \(problem)")
        }
    }
}
