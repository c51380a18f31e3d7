import ArgumentParser
import Dispatch

/// The process entry point (docs/architecture.md#memory).
///
/// `astralisd run` parses only `Run`'s options: building ArgumentParser's tree of every command
/// calls each command type's configuration and witness thunks, spread over the whole executable,
/// and each call makes a 64 KiB window of code resident (about 3 MB of the idle daemon). Every
/// other invocation, `run` with a help or version flag, and a `run` whose options do not parse go
/// through the full `Astralisd` command as before.
///
/// The command runs on the global executor while the main thread waits: an `async` `@main` (what
/// `AsyncParsableCommand` would be) ends the main thread with `dispatch_main()`, i.e.
/// `pthread_exit()`, whose forced unwind binary-searches the 1.4 MB `.eh_frame_hdr` and reads
/// `.eh_frame`, making about 0.9 MB of unwind tables resident for nothing. Nothing in the daemon
/// runs on the main actor or the main dispatch queue. Returning from `main()` exits with status 0;
/// ArgumentParser exits by itself on errors, as before.
@main
enum AstralisdMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let helpFlags: Set<String> = ["-h", "--help", "-help", "help", "--version", "--experimental-dump-help"]
        let runOnly = arguments.first == "run" && !arguments.contains(where: helpFlags.contains)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            // A `run` that does not parse on its own goes through the full command, so errors and
            // usage read exactly as before ("astralisd run ...").
            if runOnly, let command = (try? Run.parseAsRoot(Array(arguments.dropFirst()))) as? Run {
                do {
                    try await command.run()
                } catch {
                    Astralisd.exit(withError: error)
                }
            } else {
                await Astralisd.main()
            }
            done.signal()
        }
        done.wait()
    }
}
