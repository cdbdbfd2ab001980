public enum NotificationMode: String, Sendable {
    case tracking, keyspace, off
}
