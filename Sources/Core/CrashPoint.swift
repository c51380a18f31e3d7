import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test hook for crash-safety tests: when `ASTRALISD_TEST_CRASH_POINT` names a point, the process
/// kills itself with SIGKILL on reaching it — as a power cut or OOM kill would — so tests can
/// restart the daemon and check that nothing was lost or done twice. Unset in production; the
/// check is one dictionary lookup made once.
public enum CrashPoint {
    private static let armed: String? = ProcessInfo.processInfo.environment["ASTRALISD_TEST_CRASH_POINT"]

    /// Points the daemon passes, in the order an intake meets them.
    public static let afterBlobWrite = "after-blob-write"
    public static let afterIntakeCommit = "after-intake-commit"
    public static let afterDecisionCommit = "after-decision-commit"
    /// IMAP: a message's bytes were fetched, nothing committed yet.
    public static let afterIMAPFetch = "after-imap-fetch"
    /// IMAP: the intake is durable, the processed action (flag/move/delete) not yet applied.
    /// (`after-intake-commit` fires at the same moment inside the committer, for every source.)
    public static let afterIMAPIntake = "after-imap-intake"
    /// IMAP: the processed action was applied, the folder's progress not yet advanced.
    public static let afterIMAPAction = "after-imap-action"

    /// Admin API: a replacement config or rules file is written and synced under its temporary
    /// name, not yet renamed over the old one.
    public static let afterConfigTempWrite = "after-config-temp-write"
    /// Admin API: half of a replacement file is written (a torn temporary file).
    public static let duringConfigTempWrite = "during-config-temp-write"
    /// Admin API: the replacement is renamed into place, not yet reloaded or audited.
    public static let afterConfigRename = "after-config-rename"

    public static func reached(_ name: String) {
        guard let armed, armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
