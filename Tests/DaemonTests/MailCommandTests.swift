import Foundation
import Testing

extension DaemonProcessTests {
    /// `astralisd parse` and `astralisd ingest message.eml`: the mail paths of the CLI.
    @Suite("astralisd parse and mail ingest")
    struct MailCommands {
        static let pdf = Data("%PDF-1.4\nquote 99\n%%EOF\n".utf8)

        static let message = """
            From: =?utf-8?Q?Jos=C3=A9_Garc=C3=ADa?= <jose@example.es>
            To: inbox@astralis.example
            Subject: Quote request 99
            Message-ID: <quote-99@example.es>
            Date: Wed, 4 Mar 2026 10:00:00 +0000
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="q"

            --q
            Content-Type: text/plain; charset=utf-8

            Please send a quote.
            --q
            Content-Type: application/pdf
            Content-Disposition: attachment; filename="quote 99.pdf"
            Content-Transfer-Encoding: base64

            \(pdf.base64EncodedString())
            --q--

            """

        @Test("parse prints the message as JSON with snake_case keys and exits 0; an unreadable file exits 1", .timeLimit(.minutes(1)))
        func parseCommand() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let file = fixture.root.appendingPathComponent("quote.eml")
            try Data(Self.message.utf8).write(to: file)
            // No --config: parse needs none.
            let result = try await runCommand(try TestTools.astralisd(), ["parse", file.path], environment: TestTools.childEnvironment([:]), in: fixture.root)
            #expect(result.exitedCleanly, "\(result.summary)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.summary)")
            #expect(json["subject"] as? String == "Quote request 99")
            #expect(json["message_id"] as? String == "quote-99@example.es")
            #expect(json["date"] as? String == "2026-03-04T10:00:00Z")
            #expect(json["text"] as? String == "Please send a quote.")
            #expect(json["text_source"] as? String == "plain")
            #expect((json["defects"] as? [Any])?.isEmpty == true)
            #expect(json["return_path"] is NSNull, "absent values are null, not missing")
            let from = try #require(json["from"] as? [[String: Any]])
            #expect(from.first?["name"] as? String == "José García")
            #expect(from.first?["address"] as? String == "jose@example.es")
            let attachment = try #require((json["attachments"] as? [[String: Any]])?.first)
            #expect(attachment["filename"] as? String == "quote 99.pdf")
            #expect(attachment["type"] as? String == "application/pdf")
            #expect(attachment["size"] as? Int == Self.pdf.count)
            #expect(attachment["part"] as? String == "2")
            #expect(attachment["disposition"] as? String == "attachment")
            #expect((attachment["sha256"] as? String)?.count == 64)
            #expect(attachment["content_id"] is NSNull)
            let attachmentsKey = try #require(result.stdout.range(of: "\"attachments\""))
            let ccKey = try #require(result.stdout.range(of: "\"cc\""))
            #expect(attachmentsKey.lowerBound < ccKey.lowerBound, "keys are sorted")

            let missing = try await runCommand(try TestTools.astralisd(), ["parse", fixture.root.appendingPathComponent("nope.eml").path], environment: TestTools.childEnvironment([:]), in: fixture.root)
            #expect(missing.reason == .exit && missing.status == 1, "\(missing.summary)")
            #expect(missing.stderr.contains("cannot read"), "\(missing.summary)")
        }

        /// `astralisd intake show` with the documents the mail intake produced.
        struct Report: Decodable {
            struct Row: Decodable { var status: String; var contentType: String; var dedupeKey: String; var sourceKind: String }
            struct DocumentRow: Decodable { var filename: String; var declaredType: String; var size: Int; var origin: String }
            struct ItemRow: Decodable { var title: String }
            var intake: Row
            var documents: [DocumentRow]
            var item: ItemRow?
        }

        @Test("ingest message.eml: a message/rfc822 intake, the attachment a document, processed into an item from the mail's facts", .timeLimit(.minutes(2)))
        func ingestEmail() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON { organization in
                var route = organization["default_route"] as? [String: Any] ?? [:]
                route["title"] = "{{subject}} from {{from}}"
                organization["default_route"] = route
            })
            let file = fixture.root.appendingPathComponent("quote.eml")
            try Data(Self.message.utf8).write(to: file)

            let ingest = try await fixture.cli(["ingest", file.path, "--source", DaemonFixture.source])
            #expect(ingest.exitedCleanly, "\(ingest.summary)")
            let intakeID = try #require(ingest.stdout.split(separator: " ").first.map(String.init), "\(ingest.summary)")
            let again = try await fixture.cli(["ingest", file.path, "--source", DaemonFixture.source])
            #expect(again.exitedCleanly && again.stdout.hasPrefix("\(intakeID) already received"), "the same bytes are the same intake: \(again.summary)")

            let daemon = try await fixture.startReady()
            let stuck = try await fixture.waitUntilDone([intakeID])
            #expect(stuck.isEmpty, "ingested message not processed: \(stuck)\nlog:\n\(daemon.log)")
            try await fixture.stop(daemon)

            let show = try await fixture.cli(["intake", "show", intakeID])
            let report = try JSONDecoder().decode(Report.self, from: Data(show.stdout.utf8))
            #expect(report.intake.status == "done")
            #expect(report.intake.contentType == "message/rfc822")
            #expect(report.intake.sourceKind == "cli")
            #expect(report.intake.dedupeKey.hasPrefix("\(DaemonFixture.source):message:quote-99@example.es:"))
            #expect(report.documents.count == 1)
            #expect(report.documents.first?.filename == "quote 99.pdf")
            #expect(report.documents.first?.declaredType == "application/pdf")
            #expect(report.documents.first?.size == Self.pdf.count)
            #expect(report.documents.first?.origin == "mime:2")
            #expect(report.item?.title == "Quote request 99 from jose@example.es", "\(String(describing: report.item))")
        }
    }
}
