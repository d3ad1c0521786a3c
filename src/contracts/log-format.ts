// The log line format every thread shares (main thread and Executor workers alike). Constants only.

/** Set by systemd when stdout/stderr go to the journal. */
export const JOURNAL_STREAM_ENV = 'JOURNAL_STREAM';

/** pino level number -> syslog priority, for the sd-daemon "<N>" prefix journald reads. */
export const JOURNALD_PRIORITY: Readonly<Record<number, number>> = Object.freeze({ 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 });

/** Priority of a line whose level cannot be read (info). */
export const JOURNALD_DEFAULT_PRIORITY = 6;
