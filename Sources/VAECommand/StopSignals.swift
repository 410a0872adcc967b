import Foundation
import Synchronization

/// SIGTERM, SIGINT, SIGHUP and SIGUSR1 ask a training run to stop: schedulers send SIGTERM
/// before they preempt, a terminal sends SIGINT (and SIGHUP when it closes), and `mpirun`
/// forwards SIGUSR1 to every rank (it kills ranks soon after forwarding SIGTERM or SIGINT, so
/// `launch/train` turns those into SIGUSR1). The
/// first signal only raises a flag that the trainer reads between steps; a second one ends the
/// process at once, which is safe because checkpoints are replaced atomically.
enum StopSignals {
    static let signals = [SIGTERM, SIGINT, SIGHUP, SIGUSR1]
    private static let received = Atomic<Int>(0)

    static func install() {
        _ = received.load(ordering: .relaxed)   // initialised here, not first inside a handler
        // A parent may have started us with these blocked (threads of a pool block them, and
        // a child inherits its spawner's mask): a stop must still get through.
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if StopSignals.received.add(1, ordering: .relaxed).newValue > 1 { _exit(128 + signal) }
            }
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
    }

    static var stopRequested: Bool { received.load(ordering: .relaxed) > 0 }
}
