import ArgumentParser
import Core
import Foundation
import Inbound

/// `astralisd extract FILE`: a document's text as the daemon extracts it — through the same
/// sandboxed `astralisd-extract` child — printed as JSON (`--json`) or as a summary and the text.
/// The decoders live only in `astralisd-extract` (its `--bench DIR` measures them in-process).
struct Extract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract a document's text (PDF, image, text, HTML, email) as the daemon does, in a sandboxed child process."
    )

    @Argument(help: "The document file.") var file: String?
    @Flag(help: "Print the child's JSON result.") var json = false
    @Option(help: "Take the `documents` settings from this configuration file.") var config: String?
    @Option(help: "Declared media type to compare with the content.") var declaredType = ""
    @Flag(help: "No orientation detection or deskew before OCR.") var noAutoRotate = false

    func run() async throws {
        let settings = ExtractionSettings(limits: try documentsConfig(), autoRotate: !noAutoRotate)
        guard let file, let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("cannot read \(file ?? "(no file given)")\n".utf8))
            throw ExitCode(1)
        }
        let sandbox = ExtractionSandbox(settings: settings)
        if let problem = ExtractionSandbox.extractorProblem(sandbox.executable) {
            FileHandle.standardError.write(Data("astralisd extract: \(problem)\n".utf8))
            throw ExitCode(1)
        }
        let name = URL(fileURLWithPath: file).lastPathComponent
        var outcome = await sandbox.run(data, declaredType: declaredType, filename: name)
        if outcome.detectedType == nil { outcome.detectedType = DocumentType.sniff(data).rawValue }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(outcome), as: UTF8.self))
        } else {
            print("status: \(outcome.status.rawValue)" + (outcome.reason.map { " (\($0))" } ?? ""))
            print("type: \(outcome.detectedType ?? "-")" + (outcome.typeMismatch.map { " (\($0))" } ?? ""))
            if let extraction = outcome.extraction {
                let sources = extraction.pages.map { "\($0.number):\($0.source.rawValue)" }.joined(separator: " ")
                print("pages: \(extraction.pageCount) [\(sources)]")
                if let confidence = extraction.ocrConfidence { print("ocr confidence: \(Int(confidence))") }
                for note in extraction.notes ?? [] { print("note: \(note)") }
                print("")
                print(extraction.text)
            }
        }
        if outcome.status != .completed { throw ExitCode(2) }
    }

    /// The `documents` section of `--config`, else the defaults.
    func documentsConfig() throws -> DocumentsConfig {
        do {
            return try ConfigParser.documents(configFile: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}
