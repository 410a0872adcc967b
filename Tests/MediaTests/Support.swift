import Foundation
import Media
import Testing
import TestSupport

/// Runs a Python snippet with `arguments` as `sys.argv[1...]` and returns what it printed.
func python(_ script: String, _ arguments: [String] = []) throws -> String {
    String(decoding: try runPython(script, arguments), as: UTF8.self)
}

/// Decodes the JSON a Python snippet printed.
func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(text.utf8))
}

/// Expects `body` to fail with exactly one line that names `url` and contains `fragment`.
func expectOneLineError(_ url: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch {
        let message = "\(error)"
        #expect(message.hasPrefix("\(url.path): "), "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
        #expect(!message.contains("\n"), "\(message)", sourceLocation: sourceLocation)
        #expect(error.localizedDescription == message, sourceLocation: sourceLocation)
    }
}
