import Core
import Foundation
import Rules
import Testing

@Suite("Default route")
struct DefaultRouterTests {
    static let config: DaemonConfig = {
        let text = """
        {"organizations": [{
          "id": "demo",
          "pipelines": [{"id": "sales", "stages": [{"id": "new"}, {"id": "hot"}]}, {"id": "support", "stages": [{"id": "inbox"}]}],
          "default_route": {"pipeline": "sales", "title": "{{payload.name}}"},
          "sources": [
            {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
            {"id": "helpdesk", "type": "webhook", "auth": {"type": "none"}, "route": {"pipeline": "support", "priority": "high", "tags": ["help"], "title": "Ticket"}}
          ]
        }]}
        """
        do {
            return try ConfigParser.parse(Data(text.utf8), sourceName: "test")
        } catch {
            preconditionFailure("test config must parse: \(error)")
        }
    }()

    func facts(source: String, organization: String = "demo") -> Facts {
        Facts(intakeID: "in_1", organization: organization, source: source, sourceKind: .webhook, receivedAt: Date())
    }

    @Test func organizationDefault() async throws {
        let decision = try await DefaultRouter(config: Self.config).decide(facts(source: "contact-form"))
        #expect(decision.outcome == .route)
        #expect(decision.route?.pipeline == "sales" && decision.route?.stage == "new")
        #expect(decision.decidedBy == "default-route")
        #expect(decision.trace.first?.contains("default route") == true)
    }

    @Test func sourceRouteWins() async throws {
        let decision = try await DefaultRouter(config: Self.config).decide(facts(source: "helpdesk"))
        #expect(decision.route?.pipeline == "support" && decision.route?.stage == "inbox")
        #expect(decision.route?.priority == .high && decision.route?.tags == ["help"])
        #expect(decision.trace.first?.contains("its own route") == true)
    }

    @Test func removedSourceFallsBackToItsOrganization() async throws {
        let decision = try await DefaultRouter(config: Self.config).decide(facts(source: "deleted-form"))
        #expect(decision.route?.pipeline == "sales")
        #expect(decision.trace.first?.contains("no longer configured") == true)
    }

    @Test func removedOrganizationGoesToReview() async throws {
        let decision = try await DefaultRouter(config: Self.config).decide(facts(source: "x", organization: "gone"))
        #expect(decision.outcome == .review && decision.route == nil)
    }
}
