import Hummingbird
import Synchronization

/// How many webhook requests the public listener is serving at this moment. At
/// ``busyThreshold`` or more, senders are queueing for the daemon's CPUs: the job worker then
/// starts at most `workers.burst_concurrency` jobs at once (by default none, for at most
/// `workers.max_burst_pause_seconds`), so the burst is made durable and answered first, and the
/// backlog it leaves is processed at full concurrency once the listener is calm again. Below the
/// threshold processing is not held back at all, however steady the traffic.
///
/// Requests finish in groups (one commit answers a whole batch), so the count dips between
/// batches even in a steady burst; the listener counts as busy until ``calmAfter`` has passed
/// since the count was last at the threshold. A burst begins when the listener turns busy from
/// calm; ``busyFor`` is how long the current one has lasted.
final class IntakeLoad: Sendable {
    /// Requests in flight that count as busy: about what 2,000 webhooks/s at 8 ms each keep
    /// open; an ordinary stream of form posts stays far below it.
    static let busyThreshold = 16
    /// How long the listener stays busy after the count was last at the threshold.
    static let calmAfter: Duration = .milliseconds(250)

    private let inFlight = Atomic(0)
    /// Nanoseconds since `origin` when the count was last at the threshold (0: never).
    private let lastBusy = Atomic<Int64>(0)
    /// Nanoseconds since `origin` when the current (or last) burst began.
    private let burstStart = Atomic<Int64>(0)
    private let origin = ContinuousClock.now

    var isBusy: Bool { busyFor != nil }

    /// How long the listener has been busy without a calm spell; nil while it is calm.
    var busyFor: Duration? {
        let now = elapsed()
        let last = lastBusy.load(ordering: .relaxed)
        guard inFlight.load(ordering: .relaxed) >= Self.busyThreshold || (last != 0 && now - last < Self.calmAfter.nanoseconds) else {
            return nil
        }
        return .nanoseconds(max(0, now - burstStart.load(ordering: .relaxed)))
    }

    var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }

    func begin() {
        if inFlight.add(1, ordering: .relaxed).newValue >= Self.busyThreshold {
            let now = max(1, elapsed())
            let last = lastBusy.exchange(now, ordering: .relaxed)
            if last == 0 || now - last >= Self.calmAfter.nanoseconds { burstStart.store(now, ordering: .relaxed) }
        }
    }

    func end() {
        inFlight.subtract(1, ordering: .relaxed)
    }

    private func elapsed() -> Int64 { (ContinuousClock.now - origin).nanoseconds }
}

fileprivate extension Duration {
    /// The whole duration in nanoseconds (saturating far beyond any span used here).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Counts the public listener's requests in ``IntakeLoad`` while their handlers run.
struct IntakeLoadMiddleware<Context: RequestContext>: RouterMiddleware {
    let load: IntakeLoad

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        load.begin()
        defer { load.end() }
        return try await next(request, context)
    }
}
