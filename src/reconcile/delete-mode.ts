/**
 * STREAM_DELETE_MODE: how Stream deletes a user, for `POST /users/delete`.
 *
 * `soft` (default, the original's deleteUser: restorable), `pruning` (marks
 * deleted and nullifies the user's data) or `hard` (gone for good: Stream
 * requires its messages and conversations hard-deleted too), optionally
 * followed by `messages` (also delete the user's messages) and `channels`
 * (also delete their 1:1 conversation channels), comma-separated:
 * e.g. `soft,messages` or `pruning,messages,channels`.
 *
 * @module
 */
import type { DeleteUsersOptions } from '../stream/rest-client';

export interface DeleteMode {
  /** Normalised, e.g. "soft,messages"; recorded with each deletion. */
  label: string;
  options: DeleteUsersOptions;
}

export function parseDeleteMode(value: string): DeleteMode {
  const parts = value
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter(Boolean);
  const [kind, ...extras] = parts;
  if (kind !== 'soft' && kind !== 'hard' && kind !== 'pruning') throw new Error('must start with "soft", "pruning" or "hard"');
  const unknown = extras.filter((extra) => extra !== 'messages' && extra !== 'channels');
  if (unknown.length > 0) throw new Error(`has unknown option "${unknown[0]}" (allowed after soft/pruning/hard: messages, channels)`);
  // Stream refuses a hard user delete that keeps messages or conversations.
  const messages = kind === 'hard' || extras.includes('messages');
  const channels = kind === 'hard' || extras.includes('channels');
  const options: DeleteUsersOptions = { user: kind };
  if (messages) options.messages = kind === 'pruning' ? 'pruning' : kind;
  if (channels) options.conversations = kind === 'hard' ? 'hard' : 'soft';
  return {
    label: [kind, ...(messages ? ['messages'] : []), ...(channels ? ['channels'] : [])].join(','),
    options,
  };
}
