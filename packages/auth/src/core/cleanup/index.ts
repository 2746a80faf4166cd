export { scheduleCleanup, type CleanupOptions, type CleanupSchedule } from './cleanup.js';
