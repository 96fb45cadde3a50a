import type { DeleteUserFlags } from '../stream/rest-client';

/**
 * STREAM_DELETE_MODE: `soft` (default, the original's deleteUser) or `hard`,
 * optionally followed by `messages` (also delete the user's messages) and
 * `channels` (also delete their 1:1 conversation channels), comma-separated:
 * e.g. `hard,messages,channels`.
 */
export interface DeleteMode {
  /** Normalised, e.g. "hard,messages"; recorded with each deletion. */
  label: string;
  flags: DeleteUserFlags;
}

export function parseDeleteMode(value: string): DeleteMode {
  const parts = value
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter(Boolean);
  const [kind, ...extras] = parts;
  if (kind !== 'soft' && kind !== 'hard') throw new Error('must start with "soft" or "hard"');
  const unknown = extras.filter((extra) => extra !== 'messages' && extra !== 'channels');
  if (unknown.length > 0) throw new Error(`has unknown option "${unknown[0]}" (allowed after soft/hard: messages, channels)`);
  const messages = extras.includes('messages');
  const channels = extras.includes('channels');
  return {
    label: [kind, ...(messages ? ['messages'] : []), ...(channels ? ['channels'] : [])].join(','),
    flags: { hard_delete: kind === 'hard', mark_messages_deleted: messages, delete_conversation_channels: channels },
  };
}
