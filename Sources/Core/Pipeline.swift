public import Foundation

/// A stage of a pipeline, in order.
public struct Stage: Sendable, Codable, Equatable {
    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// An ordered set of stages that items move through, owned by an organization.
public struct Pipeline: Sendable, Codable, Equatable {
    public var id: String
    public var organization: String
    public var name: String
    public var stages: [Stage]

    public init(id: String, organization: String, name: String, stages: [Stage]) {
        self.id = id
        self.organization = organization
        self.name = name
        self.stages = stages
    }
}

/// A tracked piece of work in a pipeline stage, created from exactly one intake.
public struct PipelineItem: Sendable, Codable, Equatable {
    public var id: String
    public var organization: String
    public var pipeline: String
    public var stage: String
    /// Order within the stage (lower first).
    public var position: Int
    public var priority: Priority
    public var assignee: String?
    public var tags: [String]
    public var title: String
    public var description: String?
    public var intakeID: String
    /// Extracted fields carried onto the item (payload fields today; invoice fields later).
    public var fields: JSONValue
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, organization: String, pipeline: String, stage: String, position: Int, priority: Priority,
        assignee: String?, tags: [String], title: String, description: String?, intakeID: String,
        fields: JSONValue, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.organization = organization
        self.pipeline = pipeline
        self.stage = stage
        self.position = position
        self.priority = priority
        self.assignee = assignee
        self.tags = tags
        self.title = title
        self.description = description
        self.intakeID = intakeID
        self.fields = fields
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Who/what/when on an item: creation, stage moves, assignment.
public struct ActivityEntry: Sendable, Codable, Equatable {
    public var id: String
    public var organization: String
    public var itemID: String?
    public var intakeID: String?
    /// `system`, `worker`, a token name later.
    public var actor: String
    /// `item.created`, `item.moved`, `item.assigned`, ...
    public var action: String
    public var detail: String
    public var at: Date

    public init(
        id: String, organization: String, itemID: String?, intakeID: String?, actor: String, action: String,
        detail: String, at: Date
    ) {
        self.id = id
        self.organization = organization
        self.itemID = itemID
        self.intakeID = intakeID
        self.actor = actor
        self.action = action
        self.detail = detail
        self.at = at
    }
}
