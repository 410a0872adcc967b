/// Threads of a step that have nothing left to compute, lent to one that still does: a layer
/// that finds them waiting cuts what is left of its batch into pieces, which they and the
/// layer's own thread take as they come free. Each piece writes outputs of its own, and every
/// sum takes its terms in one order whoever computes them, so help never shows in the bits.
public protocol Helpers: AnyObject {
    /// Whether a thread waits for pieces.
    var areWaiting: Bool { get }
    /// Runs `piece(i)` for every i in 0..<count, some perhaps on helping threads; returns once
    /// all are done.
    func share(pieces count: Int, _ piece: (Int) -> Void)
}

/// Computes a batch's images one at a time with `alone`, until helpers wait: then the images
/// left go to `together` at once, to cut into pieces for them.
func imageByImage(_ batch: Int, helpers: Helpers?, alone: (Range<Int>) -> Void,
                  together: (Range<Int>, Helpers) -> Void) {
    guard let helpers else { return alone(0..<batch) }
    for n in 0..<batch {
        if batch - n > 1 && helpers.areWaiting { return together(n..<batch, helpers) }
        alone(n..<(n + 1))
    }
}
