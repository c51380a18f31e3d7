public import Core

/// Asks a model to choose among a rule's candidate destinations. Implementations never throw:
/// every failure comes back as a classification without a usable destination, so the rule's
/// fallback applies.
public protocol RouteClassifier: Sendable {
    func classify(_ facts: Facts, ask: AskAI, rule: String) async -> Classification
}

/// A model's answer after local validation.
public struct Classification: Sendable {
    /// A candidate pipeline id, or nil when the answer cannot be used (the trace says why).
    public var destination: String?
    public var trace: AITrace

    public init(destination: String?, trace: AITrace) {
        self.destination = destination
        self.trace = trace
    }
}

/// Routes with a rules file: the organization's rules decide; an intake no rule routes takes its
/// source's route or its organization's default route, as without rules.
public struct RulesRouter: IntakeRouter {
    public let rules: RuleSet
    private let fallback: DefaultRouter
    private let classifier: (any RouteClassifier)?
    /// Per source: the whole trace of an intake no rule matched, written once (the usual case of
    /// a decision that falls through needs no new array).
    private let fallthroughTraces: [String: [String]]

    public init(rules: RuleSet, config: DaemonConfig, classifier: (any RouteClassifier)? = nil) {
        self.rules = rules
        self.fallback = DefaultRouter(config: config)
        self.classifier = classifier
        fallthroughTraces = fallback.targets.mapValues { ["no rule chose a destination"] + $0.trace }
    }

    public func decide(_ facts: Facts) async throws -> Decision {
        let evaluation = rules.evaluate(facts)
        switch evaluation.destination {
        case nil:
            if evaluation.trace.isEmpty, let target = fallback.targets[facts.source], let trace = fallthroughTraces[facts.source] {
                return Decision(
                    outcome: .route, route: target.route, decidedBy: "default-route", trace: trace,
                    followUps: evaluation.followUps, traces: evaluation.traces
                )
            }
            let base = try await fallback.decide(facts)
            var trace = evaluation.trace
            trace.reserveCapacity(trace.count + 1 + base.trace.count)
            trace.append("no rule chose a destination")
            trace.append(contentsOf: base.trace)
            return Decision(
                outcome: base.outcome, route: base.route, decidedBy: base.decidedBy,
                trace: trace,
                followUps: evaluation.followUps, traces: evaluation.traces
            )
        case .route(let route, let rule)?:
            return Decision(
                outcome: .route, route: route, decidedBy: "rule:\(rule)", trace: evaluation.trace,
                followUps: evaluation.followUps, traces: evaluation.traces
            )
        case .ignore(let reason, let rule)?:
            return Decision(
                outcome: .ignore, route: nil, decidedBy: "rule:\(rule)",
                trace: evaluation.trace + ["ignored" + (reason.map { ": \($0)" } ?? "")],
                followUps: evaluation.followUps, traces: evaluation.traces
            )
        case .askAI(let ask, let rule)?:
            return await askAI(ask, rule: rule, facts: facts, evaluation: evaluation)
        }
    }

    private func askAI(_ ask: AskAI, rule: String, facts: Facts, evaluation: RuleEvaluation) async -> Decision {
        var trace = evaluation.trace
        var aiTrace: AITrace?
        if let classifier {
            let answer = await classifier.classify(facts, ask: ask, rule: rule)
            aiTrace = answer.trace
            // Checked again here, whatever the classifier did: only a candidate named in the rule
            // with enough confidence becomes a route.
            if let destination = answer.destination,
               let candidate = ask.candidates.first(where: { $0.route.pipeline == destination }),
               let confidence = answer.trace.confidence, confidence >= ask.minimumConfidence {
                trace.append("AI router chose \(destination) with confidence \(confidence) (model \(answer.trace.model))")
                return Decision(
                    outcome: .route, route: candidate.route, decidedBy: "ai", trace: trace,
                    followUps: evaluation.followUps, traces: evaluation.traces, ai: aiTrace
                )
            }
            trace.append("AI router answer not used (\(answer.trace.outcome)); fallback of rule \(rule) applies")
        } else {
            trace.append("no AI router is configured; fallback of rule \(rule) applies")
        }
        switch ask.fallback {
        case .route(let route):
            trace.append("fallback route to \(route.pipeline)/\(route.stage)")
            return Decision(
                outcome: .route, route: route, decidedBy: "ai-fallback:\(rule)", trace: trace,
                followUps: evaluation.followUps, traces: evaluation.traces, ai: aiTrace
            )
        case .review:
            trace.append("held for human review")
            return Decision(
                outcome: .review, route: nil, decidedBy: "ai-fallback:\(rule)", trace: trace,
                followUps: evaluation.followUps, traces: evaluation.traces, ai: aiTrace
            )
        }
    }
}
