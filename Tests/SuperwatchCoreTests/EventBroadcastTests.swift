import Foundation
import Testing

@testable import SuperwatchCore

@Suite struct EventBroadcastTests {
    private func event(_ number: Int) -> StackEvent {
        StackEvent(process: ProcessID(0), name: "web", time: Date(), event: SupervisorEvent(.notice, "\(number)"))
    }

    private func messages(_ stream: AsyncStream<StackEvent>) async -> [String] {
        var messages: [String] = []
        for await event in stream { messages.append(event.event.message) }
        return messages
    }

    /// A subscriber that does not read keeps only the newest events, and publishing never waits for it.
    @Test func aSlowSubscriberLosesTheOldestAndHoldsUpNobody() async {
        let broadcast = EventBroadcast()
        let slow = broadcast.subscribe()
        let total = EventBroadcast.bufferLimit + 10
        for number in 0..<total { broadcast.publish { event(number) } }
        broadcast.finish()
        #expect(await messages(slow) == (10..<total).map(String.init))
    }

    /// Each subscriber has its own buffer: what one reads or loses does not change what another gets.
    @Test func everySubscriberGetsEveryEvent() async {
        let broadcast = EventBroadcast()
        let first = broadcast.subscribe()
        let second = broadcast.subscribe()
        for number in 0..<3 { broadcast.publish { event(number) } }
        broadcast.finish()
        #expect(await messages(first) == ["0", "1", "2"])
        #expect(await messages(second) == ["0", "1", "2"])
    }

    @Test func aSubscriberAfterTheEndGetsAFinishedStream() async {
        let broadcast = EventBroadcast()
        broadcast.finish()
        let late = broadcast.subscribe()
        broadcast.publish { event(1) }
        #expect(await messages(late).isEmpty)
    }

    @Test func nothingIsBuiltWithoutSubscribers() {
        let broadcast = EventBroadcast()
        var built = false
        broadcast.publish {
            built = true
            return event(1)
        }
        #expect(!built)
    }
}
