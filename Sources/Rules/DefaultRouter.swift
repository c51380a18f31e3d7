public import Core

/// Routes every intake to its source's route, or else its organization's default route. This is
/// the routing of the foundation release; the rules engine will implement `IntakeRouter` too and
/// take its place without the daemon changing how it calls routing.
public struct DefaultRouter: IntakeRouter {
    struct Target: Sendable {
        var route: Route
        /// The decision's trace, written once at init: every intake of the source gets the same.
        var trace: [String]
    }

    let targets: [String: Target]
    private let organizationDefaults: [String: Route]

    public init(config: DaemonConfig) {
        var targets: [String: Target] = [:]
        var defaults: [String: Route] = [:]
        for org in config.organizations {
            defaults[org.id] = org.defaultRoute
            for source in org.sources {
                let route = source.route ?? org.defaultRoute
                let explanation = source.route != nil
                    ? "source \(source.id) has its own route"
                    : "source \(source.id) has no route of its own; organization \(org.id)'s default route applies"
                targets[source.id] = Target(route: route, trace: [explanation, Self.routeLine(route)])
            }
        }
        self.targets = targets
        self.organizationDefaults = defaults
    }

    public func decide(_ facts: Facts) async throws -> Decision {
        if let target = targets[facts.source] {
            return Decision(outcome: .route, route: target.route, decidedBy: "default-route", trace: target.trace)
        }
        if let route = organizationDefaults[facts.organization] {
            // The source was removed from config after the intake arrived: its organization still decides.
            return Decision(outcome: .route, route: route, decidedBy: "default-route", trace: [
                "source \(facts.source) is no longer configured; organization \(facts.organization)'s default route applies",
                Self.routeLine(route),
            ])
        }
        return Decision(outcome: .review, route: nil, decidedBy: "default-route", trace: [
            "organization \(facts.organization) is no longer configured; held for human review",
        ])
    }

    static func routeLine(_ route: Route) -> String {
        "route to \(route.pipeline)/\(route.stage) with priority \(route.priority.rawValue)"
    }
}
