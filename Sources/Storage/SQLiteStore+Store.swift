public import Core
public import Foundation
import GRDB

extension SQLiteStore {
    // MARK: Pipelines

    /// Upserts each pipeline and replaces its stages, in the order given. Pipelines missing from
    /// `pipelines` are kept: items may still stand in them.
    public func syncPipelines(_ pipelines: [Pipeline]) async throws {
        try await write("syncing pipelines") { db in
            let upsertPipeline = try db.cachedStatement(sql: """
                INSERT INTO pipelines (organization, id, name, position) VALUES (?, ?, ?, ?)
                ON CONFLICT (organization, id) DO UPDATE SET name = excluded.name, position = excluded.position
                """)
            let deleteStages = try db.cachedStatement(sql: "DELETE FROM stages WHERE organization = ? AND pipeline = ?")
            let insertStage = try db.cachedStatement(sql: """
                INSERT INTO stages (organization, pipeline, id, name, position) VALUES (?, ?, ?, ?, ?)
                """)
            for (index, pipeline) in pipelines.enumerated() {
                try upsertPipeline.execute(arguments: [pipeline.organization, pipeline.id, pipeline.name, index])
                try deleteStages.execute(arguments: [pipeline.organization, pipeline.id])
                for (position, stage) in pipeline.stages.enumerated() {
                    try insertStage.execute(arguments: [pipeline.organization, pipeline.id, stage.id, stage.name, position])
                }
            }
        }
    }

    public func pipelines(organization: String?) async throws -> [Pipeline] {
        try await read("listing pipelines") { db in
            let pipelineRows = try Row.fetchAll(
                db,
                sql: """
                    SELECT organization, id, name FROM pipelines
                    WHERE ?1 IS NULL OR organization = ?1
                    ORDER BY position, organization, id
                    """,
                arguments: [organization])
            let stageRows = try Row.fetchAll(
                db,
                sql: """
                    SELECT organization, pipeline, id, name FROM stages
                    WHERE ?1 IS NULL OR organization = ?1
                    ORDER BY organization, pipeline, position
                    """,
                arguments: [organization])

            struct PipelineKey: Hashable { var organization: String, pipeline: String }
            var stages: [PipelineKey: [Stage]] = [:]
            for row in stageRows {
                let r = StoredRow(row, table: "stages")
                let key = PipelineKey(organization: try r.string("organization"), pipeline: try r.string("pipeline"))
                stages[key, default: []].append(Stage(id: try r.string("id"), name: try r.string("name")))
            }
            return try pipelineRows.map { row in
                let r = StoredRow(row, table: "pipelines")
                let organization = try r.string("organization")
                let id = try r.string("id")
                return Pipeline(
                    id: id, organization: organization, name: try r.string("name"),
                    stages: stages[PipelineKey(organization: organization, pipeline: id)] ?? [])
            }
        }
    }

    // MARK: Intakes

    /// Records a batch of intakes in one transaction, so concurrent requests share one commit
    /// (and one fsync). Each new intake is stored with its documents and `processJobs[i]`.
    ///
    /// - Throws: ``StoreError/invalid(_:)`` when `processJobs` does not pair up with `intakes`
    ///   or a document names another intake; nothing is written then.
    public func recordIntakes(_ intakes: [NewIntake], processJobs: [NewJob]) async throws -> [IntakeRecordResult] {
        try await recordIntakes(intakes, processJobs: processJobs, inlineBlobs: [])
    }

    /// Blobs up to this size live in the database (table `blobs`, read by ``SQLiteBlobStore``).
    public var inlineBlobLimit: Int { SQLiteBlobStore.sizeLimit }

    public func recordIntakes(_ intakes: [NewIntake], processJobs: [NewJob], inlineBlobs: [Data]) async throws -> [IntakeRecordResult] {
        if let oversized = inlineBlobs.first(where: { $0.count > inlineBlobLimit }) {
            throw StoreError.invalid("an inline blob of \(oversized.count) bytes exceeds the inline limit of \(inlineBlobLimit)")
        }
        let blobs = inlineBlobs.map(Blob.init)
        guard intakes.count == processJobs.count else {
            throw StoreError.invalid("\(intakes.count) intakes but \(processJobs.count) process jobs")
        }
        for new in intakes {
            if let stray = new.documents.first(where: { $0.intakeID != new.intake.id }) {
                throw StoreError.invalid("document \(stray.id) belongs to intake \(stray.intakeID), not \(new.intake.id)")
            }
        }
        guard !intakes.isEmpty else { return [] }
        let now = clock.now()
        // Serialised before the transaction: the writer is the one serial stage of intake.
        let encoded = try zip(intakes, processJobs).map { new, job in
            EncodedIntake(
                metadata: try StoredJSON.encode(new.intake.metadata),
                decision: try new.intake.decision.map { try StoredJSON.encode($0) },
                job: EncodedJob(job))
        }

        return try await groupedWrite("recording intakes") { db in
            try SQLiteBlobStore.insert(blobs, in: db)
            let insertIntake = try db.cachedStatement(sql: """
                INSERT INTO intakes (\(Columns.intake))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (organization, dedupe_key) DO NOTHING
                """)
            let insertDocument = try db.cachedStatement(sql: """
                INSERT INTO documents (position, \(Columns.document))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)

            var results: [IntakeRecordResult] = []
            results.reserveCapacity(intakes.count)

            for (new, stored) in zip(intakes, encoded) {
                let intake = new.intake
                // The unique (organization, dedupe_key) index decides: a conflicting insert does
                // nothing and the existing intake is answered instead. Inside the transaction this
                // also sees intakes inserted earlier in the same batch.
                try insertIntake.execute(arguments: [
                    intake.id, intake.organization, intake.source, intake.sourceKind.rawValue,
                    intake.receivedAt.timeIntervalSince1970, intake.dedupeKey, intake.rawBlob, intake.rawSize,
                    intake.contentType, intake.status.rawValue, intake.statusReason, stored.metadata,
                    stored.decision, intake.itemID,
                    intake.updatedAt.timeIntervalSince1970,
                ])
                if db.changesCount == 0 {
                    guard let existing = try Self.fetchIntake(organization: intake.organization, dedupeKey: intake.dedupeKey, in: db) else {
                        throw StoreError.conflict("intake \(intake.id) was not inserted and no intake has its dedupe key")
                    }
                    results.append(.duplicate(existing))
                    continue
                }
                for (position, document) in new.documents.enumerated() {
                    try insertDocument.execute(arguments: [
                        position, document.id, document.intakeID, document.filename, document.declaredType,
                        document.size, document.blob, document.origin, document.status.rawValue,
                        document.statusReason, document.createdAt.timeIntervalSince1970,
                    ])
                }
                try self.insertJobs([stored.job], now: now, in: db)
                results.append(.created(intake))
            }
            return results
        }
    }

    /// An intake's JSON columns and its processing job, serialised outside the transaction.
    private struct EncodedIntake: Sendable {
        let metadata: String
        let decision: String?
        let job: EncodedJob
    }

    public func intake(id: String) async throws -> Intake? {
        try await read("reading an intake") { db in
            try Self.fetchIntake(id: id, in: db)
        }
    }

    public func intake(organization: String, dedupeKey: String) async throws -> Intake? {
        try await read("reading an intake") { db in
            try Self.fetchIntake(organization: organization, dedupeKey: dedupeKey, in: db)
        }
    }

    public func documents(intakeID: String) async throws -> [Document] {
        try await read("listing documents") { db in
            try Self.fetchDocuments(intakeID: intakeID, in: db)
        }
    }

    static func fetchDocuments(intakeID: String, in db: Database) throws -> [Document] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(Columns.document) FROM documents WHERE intake_id = ? ORDER BY position"),
            arguments: [intakeID]
        ).map(Document.init(stored:))
    }

    /// One read transaction: the intake, its documents, and its raw bytes from the `blobs` table
    /// when they were small enough to be stored there.
    public func processingInput(intakeID: String) async throws -> ProcessingInput? {
        try await read("reading an intake for processing") { db in
            guard let intake = try Self.fetchIntake(id: intakeID, in: db) else { return nil }
            let raw = intake.rawSize <= SQLiteBlobStore.sizeLimit ? try SQLiteBlobStore.fetch(intake.rawBlob, in: db) : nil
            return ProcessingInput(intake: intake, documents: try Self.fetchDocuments(intakeID: intakeID, in: db), inlineRaw: raw)
        }
    }

    public func setIntakeStatus(id: String, status: IntakeStatus, reason: String?) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("updating an intake") { db in
            try db.execute(
                sql: "UPDATE intakes SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                arguments: [status.rawValue, reason, now, id])
            if db.changesCount == 0 { throw StoreError.notFound("intake \(id)") }
        }
    }

    // MARK: Decisions and items

    /// Commits a decision once. A second call for the same intake (a re-run of its processing job)
    /// finds the committed decision, changes nothing, enqueues nothing and returns the item made
    /// the first time (nil when that decision made none).
    ///
    /// - Throws: ``StoreError/notFound(_:)`` for an unknown intake; ``StoreError/invalid(_:)`` when
    ///   the item's route names a stage that is not in its pipeline.
    public func commitDecision(
        intakeID: String, decision: Decision, item: NewPipelineItem?, status: IntakeStatus, followUps: [NewJob],
        actor: String, completing claim: JobClaim?
    ) async throws -> PipelineItem? {
        try await commitDecision(
            intakeID: intakeID, decision: decision, item: item, status: status, followUps: followUps, bookings: [], actor: actor, completing: claim)
    }

    public func commitDecision(
        intakeID: String, decision: Decision, item: NewPipelineItem?, status: IntakeStatus, followUps: [NewJob], bookings: [Booking],
        actor: String, completing claim: JobClaim?
    ) async throws -> PipelineItem? {
        let now = clock.now()
        // Linked to the item this decision creates (its id is chosen before the transaction).
        let bookingArguments = try bookings.map { booking in
            var linked = booking
            if let item { linked.itemID = item.id }
            return try Self.bookingArguments(linked)
        }
        let decisionJSON = try StoredJSON.encode(decision)
        let encodedFollowUps = followUps.map(EncodedJob.init)
        return try await groupedWrite("committing a decision") { db in
            if let claim {
                // A lost lease is fine here: the decision below is idempotent per intake.
                _ = try Self.markDone(jobID: claim.jobID, owner: claim.owner, now: now.timeIntervalSince1970, in: db)
            }
            guard let intake = try Self.fetchIntake(id: intakeID, in: db) else {
                throw StoreError.notFound("intake \(intakeID)")
            }
            if let existing = try Self.fetchItem(intakeID: intakeID, in: db) {
                return existing
            }
            // A decision that made no item (review, ignore) is committed as well: re-running it
            // must not log it twice or queue its follow-ups twice.
            if intake.decision != nil {
                return nil
            }

            var created: PipelineItem?
            if let item {
                let route = item.route
                try Self.requireStage(organization: intake.organization, pipeline: route.pipeline, stage: route.stage, in: db)
                let position = try Self.nextPosition(organization: intake.organization, pipeline: route.pipeline, stage: route.stage, in: db)
                let stored = PipelineItem(
                    id: item.id, organization: intake.organization, pipeline: route.pipeline, stage: route.stage,
                    position: position, priority: route.priority, assignee: route.assignee, tags: route.tags,
                    title: item.title, description: item.description, intakeID: intakeID, fields: item.fields,
                    createdAt: now, updatedAt: now)
                try Self.insertItem(stored, in: db)
                created = stored
            }

            try db.execute(
                sql: """
                    UPDATE intakes SET status = ?, status_reason = NULL, decision = ?, item_id = ?, updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [status.rawValue, decisionJSON, created?.id, now.timeIntervalSince1970, intakeID])

            let entry: ActivityEntry
            if let created {
                entry = ActivityEntry(
                    id: Identifier.make(prefix: "act", at: now), organization: intake.organization, itemID: created.id,
                    intakeID: intakeID, actor: actor, action: "item.created",
                    detail: "created in \(created.pipeline)/\(created.stage) by \(decision.decidedBy)", at: now)
            } else {
                entry = ActivityEntry(
                    id: Identifier.make(prefix: "act", at: now), organization: intake.organization, itemID: nil,
                    intakeID: intakeID, actor: actor, action: "intake.\(decision.outcome.rawValue)",
                    detail: "\(decision.outcome.rawValue) decided by \(decision.decidedBy)", at: now)
            }
            try self.insertActivity(entry, in: db)
            for arguments in bookingArguments {
                try Self.insertBooking(arguments, in: db)
            }
            try self.insertJobs(encodedFollowUps, now: now, in: db)
            return created
        }
    }

    /// Lists items newest first (by id, which sorts by creation time).
    public func items(_ filter: ItemFilter) async throws -> [PipelineItem] {
        guard filter.limit > 0 else { return [] }
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        func match(_ column: String, _ value: String?, _ comparison: String = "=") {
            guard let value else { return }
            conditions.append("\(column) \(comparison) ?")
            arguments.append(value)
        }
        match("organization", filter.organization)
        match("pipeline", filter.pipeline)
        match("stage", filter.stage)
        match("assignee", filter.assignee)
        match("id", filter.before, "<")
        if let text = filter.text, !text.isEmpty {
            // instr on lower(): a plain substring test, no LIKE wildcards to escape.
            conditions.append("(instr(lower(title), lower(?)) > 0 OR instr(lower(COALESCE(description, '')), lower(?)) > 0)")
            arguments.append(text)
            arguments.append(text)
        }
        arguments.append(filter.limit)

        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Columns.item) FROM items \(whereClause) ORDER BY id DESC LIMIT ?"
        let statementArguments = StatementArguments(arguments)
        return try await read("listing items") { db in
            try Row.fetchAll(db, sql: sql, arguments: statementArguments).map(PipelineItem.init(stored:))
        }
    }

    public func item(id: String) async throws -> PipelineItem? {
        try await read("reading an item") { db in
            try Self.fetchItem(id: id, in: db)
        }
    }

    /// Moves an item to the end of another stage of its pipeline. Moving it to the stage it is
    /// already in changes nothing and records nothing.
    ///
    /// - Throws: ``StoreError/notFound(_:)`` for an unknown item; ``StoreError/invalid(_:)`` when
    ///   `stage` is not a stage of the item's pipeline.
    public func moveItem(id: String, toStage stage: String, actor: String) async throws -> PipelineItem {
        let now = clock.now()
        return try await write("moving an item") { db in
            guard var item = try Self.fetchItem(id: id, in: db) else {
                throw StoreError.notFound("item \(id)")
            }
            try Self.requireStage(organization: item.organization, pipeline: item.pipeline, stage: stage, in: db)
            guard item.stage != stage else { return item }

            let from = item.stage
            item.position = try Self.nextPosition(organization: item.organization, pipeline: item.pipeline, stage: stage, in: db)
            item.stage = stage
            item.updatedAt = now
            try db.execute(
                sql: "UPDATE items SET stage = ?, position = ?, updated_at = ? WHERE id = ?",
                arguments: [item.stage, item.position, now.timeIntervalSince1970, id])
            try self.insertActivity(
                ActivityEntry(
                    id: Identifier.make(prefix: "act", at: now), organization: item.organization, itemID: id,
                    intakeID: item.intakeID, actor: actor, action: "item.moved", detail: "\(from) → \(stage)", at: now),
                in: db)
            return item
        }
    }

    /// The item's history, oldest first.
    public func activity(itemID: String) async throws -> [ActivityEntry] {
        try await read("listing activity") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Columns.activity) FROM activity WHERE item_id = ? ORDER BY seq",
                arguments: [itemID]
            ).map(ActivityEntry.init(stored:))
        }
    }

    // MARK: Health

    public func counts() async throws -> StoreCounts {
        try await read("counting intakes and items") { db in
            var byStatus: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM intakes GROUP BY status") {
                let r = StoredRow(row, table: "intakes")
                byStatus[try r.string("status")] = try r.int("n")
            }
            let items = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items") ?? 0
            return StoreCounts(intakesByStatus: byStatus, items: items)
        }
    }

    public func ping() async throws {
        _ = try await read("checking the database") { db in
            try Int.fetchOne(db, sql: "SELECT 1")
        }
    }
}

// MARK: - Queries used inside transactions

extension SQLiteStore {
    static func fetchIntake(id: String, in db: Database) throws -> Intake? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Columns.intake) FROM intakes WHERE id = ?"),
            arguments: [id]
        ).map(Intake.init(stored:))
    }

    static func fetchIntake(organization: String, dedupeKey: String, in db: Database) throws -> Intake? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Columns.intake) FROM intakes WHERE organization = ? AND dedupe_key = ?"),
            arguments: [organization, dedupeKey]
        ).map(Intake.init(stored:))
    }

    static func fetchItem(id: String, in db: Database) throws -> PipelineItem? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Columns.item) FROM items WHERE id = ?"),
            arguments: [id]
        ).map(PipelineItem.init(stored:))
    }

    static func fetchItem(intakeID: String, in db: Database) throws -> PipelineItem? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Columns.item) FROM items WHERE intake_id = ?"),
            arguments: [intakeID]
        ).map(PipelineItem.init(stored:))
    }

    static func insertItem(_ item: PipelineItem, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO items (\(Columns.item)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).execute(arguments: [
            item.id, item.organization, item.pipeline, item.stage, item.position, item.priority.rawValue,
            item.assignee, try StoredJSON.encode(item.tags), item.title, item.description, item.intakeID,
            StoredJSON.encode(item.fields), item.createdAt.timeIntervalSince1970, item.updatedAt.timeIntervalSince1970,
        ])
    }

    static func requireStage(organization: String, pipeline: String, stage: String, in db: Database) throws {
        let known = try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM stages WHERE organization = ? AND pipeline = ? AND id = ?)",
            arguments: [organization, pipeline, stage]) ?? false
        if !known {
            throw StoreError.invalid("\"\(stage)\" is not a stage of pipeline \"\(pipeline)\" in organization \"\(organization)\"")
        }
    }

    /// The position after the last item of a stage (0 for an empty stage).
    static func nextPosition(organization: String, pipeline: String, stage: String, in db: Database) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT COALESCE(MAX(position) + 1, 0) FROM items
                WHERE organization = ? AND pipeline = ? AND stage = ?
                """,
            arguments: [organization, pipeline, stage]) ?? 0
    }
}
