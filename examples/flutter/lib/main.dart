// Both firebase_auth and stream_chat_flutter export a `User` class, so one of
// them needs a prefix: here every Firebase Auth name is `fb.…` and a bare
// `User` is Stream's.
import 'package:firebase_auth/firebase_auth.dart' as fb;
import 'package:firebase_core/firebase_core.dart';
import 'package:flutter/foundation.dart';
import 'package:flutter/material.dart';
import 'package:stream_chat_flutter/stream_chat_flutter.dart';

import 'stream_token_service.dart';

// What changes from the seed app (which used Cloud Functions):
//  1. `FirebaseFunctions.instance.httpsCallable(name)` becomes
//     `httpsCallableFromUrl('$workerUrl/$name')` (see stream_token_service.dart);
//  2. the chat client connects with a token *provider*, so expiring tokens are refreshed;
//  3. sign-out revokes the user's Stream tokens;
//  4. "Delete my account" deletes the Firebase user, then asks the Worker to delete the Stream user.
const streamApiKey = String.fromEnvironment('STREAM_API_KEY', defaultValue: 'localdevkey');
// With `adb reverse tcp:8787 tcp:8787` the device reaches `npm start` on loopback (emulator mode needs that).
const workerUrl = String.fromEnvironment('WORKER_URL', defaultValue: 'http://127.0.0.1:8787');
const useAuthEmulator = bool.fromEnvironment('USE_AUTH_EMULATOR', defaultValue: kDebugMode);

// Shows messages that outlive the page that started them (account deletion signs the user out).
final messenger = GlobalKey<ScaffoldMessengerState>();

Future<void> main() async {
  WidgetsFlutterBinding.ensureInitialized();
  await Firebase.initializeApp(); // uses your google-services.json / GoogleService-Info.plist
  if (useAuthEmulator) {
    // After `adb reverse tcp:9099 tcp:9099`, 127.0.0.1 on the device is the emulator on your machine. Without
    // `automaticHostMapping: false` firebase_auth rewrites 127.0.0.1 to 10.0.2.2 on Android, which only an
    // Android emulator (not a phone) can reach.
    await fb.FirebaseAuth.instance.useAuthEmulator('127.0.0.1', 9099, automaticHostMapping: false);
  }
  final chat = StreamChatClient(streamApiKey, logLevel: Level.WARNING);
  runApp(ChatApp(chat: chat, tokens: StreamTokenService(workerUrl)));
}

class ChatApp extends StatelessWidget {
  const ChatApp({super.key, required this.chat, required this.tokens});

  final StreamChatClient chat;
  final StreamTokenService tokens;

  @override
  Widget build(BuildContext context) {
    return MaterialApp(
      title: 'Stream + Firebase on the edge',
      scaffoldMessengerKey: messenger,
      builder: (context, child) => StreamChat(client: chat, child: child),
      home: StreamBuilder<fb.User?>(
        stream: fb.FirebaseAuth.instance.authStateChanges(),
        builder: (context, snapshot) {
          final user = snapshot.data;
          return user == null
              ? const SignInPage()
              // Keyed by uid: a new sign-in gets a fresh page, which connects the chat for that user.
              : ChannelsPage(key: ValueKey(user.uid), chat: chat, tokens: tokens, user: user);
        },
      ),
    );
  }
}

/// Firebase sign-in only: the chat connects in [ChannelsPage], which also
/// covers an app restart with a Firebase session that is still signed in.
class SignInPage extends StatefulWidget {
  const SignInPage({super.key});

  @override
  State<SignInPage> createState() => _SignInPageState();
}

class _SignInPageState extends State<SignInPage> {
  final _email = TextEditingController();
  final _password = TextEditingController();
  String? _error;

  @override
  void dispose() {
    _email.dispose();
    _password.dispose();
    super.dispose();
  }

  Future<void> _signIn({required bool create}) async {
    setState(() => _error = null);
    try {
      final auth = fb.FirebaseAuth.instance;
      if (create) {
        await auth.createUserWithEmailAndPassword(email: _email.text, password: _password.text);
      } else {
        await auth.signInWithEmailAndPassword(email: _email.text, password: _password.text);
      }
    } catch (error) {
      if (mounted) setState(() => _error = '$error');
    }
  }

  @override
  Widget build(BuildContext context) {
    return Scaffold(
      appBar: AppBar(title: const Text('Sign in')),
      body: Padding(
        padding: const EdgeInsets.all(16),
        child: Column(children: [
          TextField(controller: _email, decoration: const InputDecoration(labelText: 'Email')),
          TextField(controller: _password, obscureText: true, decoration: const InputDecoration(labelText: 'Password')),
          const SizedBox(height: 16),
          Row(children: [
            ElevatedButton(onPressed: () => _signIn(create: false), child: const Text('Sign in')),
            const SizedBox(width: 8),
            OutlinedButton(onPressed: () => _signIn(create: true), child: const Text('Create account')),
          ]),
          if (_error != null) Text(_error!, style: const TextStyle(color: Colors.red)),
        ]),
      ),
    );
  }
}

class ChannelsPage extends StatefulWidget {
  const ChannelsPage({super.key, required this.chat, required this.tokens, required this.user});

  final StreamChatClient chat;
  final StreamTokenService tokens;
  final fb.User user;

  @override
  State<ChannelsPage> createState() => _ChannelsPageState();
}

class _ChannelsPageState extends State<ChannelsPage> {
  // Created once and disposed with the page (not in build, which runs many times).
  late final _channels = StreamChannelListController(
    client: widget.chat,
    filter: Filter.in_('members', [widget.user.uid]),
  );
  late final Future<void> _connected = _connect();

  Future<void> _connect() async {
    final chat = widget.chat;
    if (chat.state.currentUser?.id == widget.user.uid) return; // already connected
    if (chat.state.currentUser != null) await chat.disconnectUser();
    // The provider's first call creates/updates the Stream user (id = Firebase uid, name, image).
    final user = widget.user;
    await chat.connectUserWithProvider(
      User(id: user.uid, name: user.displayName ?? user.email, image: user.photoURL),
      widget.tokens.tokenProvider,
    );
  }

  @override
  void dispose() {
    _channels.dispose();
    super.dispose();
  }

  Future<void> _signOut() async {
    try {
      await widget.tokens.revokeTokens(); // tokens already handed out stop working
    } finally {
      await widget.chat.disconnectUser();
      widget.tokens.reset(); // a token still being fetched for this user is dropped, never handed to the next
      await fb.FirebaseAuth.instance.signOut();
    }
  }

  /// Deletes the Firebase account, then the Stream user.
  ///
  /// The order matters: the Worker deletes a Stream user only for a caller it
  /// can authenticate, and after `user.delete()` there is no signed-in user to
  /// ask for an ID token (the callable SDK would send none). So the ID token
  /// is taken first and sent over plain HTTP afterwards; it stays valid until
  /// it expires (an hour at most, hence `getIdToken(true)` for a fresh one).
  /// If this app never gets that far, the Worker's scheduled reconciliation
  /// still removes Stream users whose Firebase account is gone.
  Future<void> _deleteAccount() async {
    final confirmed = await showDialog<bool>(
      context: context,
      builder: (context) => AlertDialog(
        title: const Text('Delete your account?'),
        content: const Text('Your sign-in and your chat user are deleted. This cannot be undone.'),
        actions: [
          TextButton(onPressed: () => Navigator.pop(context, false), child: const Text('Cancel')),
          TextButton(onPressed: () => Navigator.pop(context, true), child: const Text('Delete')),
        ],
      ),
    );
    if (confirmed != true) return;
    final user = widget.user;
    final tokens = widget.tokens;
    final chat = widget.chat;
    try {
      // 1. While the account exists: an ID token for the Worker.
      final idToken = await user.getIdToken(true); // String? since firebase_auth 4.7.0
      if (idToken == null) throw StateError('Firebase returned no ID token');
      // 2. Delete the Firebase user. Throws FirebaseAuthException 'requires-recent-login'
      //    if the last sign-in is too old: nothing is deleted then, sign in again and retry.
      //    On success it also signs out, so this page is replaced by the sign-in page.
      await user.delete();
      await chat.disconnectUser();
      tokens.reset();
      // 3. Delete the Stream user, proving who we were with the token from step 1.
      final deleted = await tokens.deleteStreamUser(idToken);
      messenger.currentState?.showSnackBar(SnackBar(
        content: Text(deleted
            ? 'Account deleted.'
            : 'Account deleted. Your chat user will be removed shortly.'), // 202: the Worker finishes later
      ));
    } on fb.FirebaseAuthException catch (error) {
      messenger.currentState?.showSnackBar(SnackBar(
        content: Text(error.code == 'requires-recent-login'
            ? 'For your security, sign out, sign in again, then delete your account.'
            : 'Could not delete the account: ${error.message}'),
      ));
    } catch (error) {
      // The Firebase account may already be gone here; reconciliation cleans up the Stream user.
      messenger.currentState?.showSnackBar(SnackBar(content: Text('Account deletion incomplete: $error')));
    }
  }

  @override
  Widget build(BuildContext context) {
    return Scaffold(
      appBar: AppBar(
        title: StreamBuilder<OwnUser?>(
          stream: widget.chat.state.currentUserStream,
          initialData: widget.chat.state.currentUser,
          builder: (context, me) => Text(me.data?.name ?? 'Channels'),
        ),
        actions: [
          IconButton(icon: const Icon(Icons.logout), tooltip: 'Sign out', onPressed: _signOut),
          IconButton(icon: const Icon(Icons.delete_forever), tooltip: 'Delete my account', onPressed: _deleteAccount),
        ],
      ),
      body: FutureBuilder<void>(
        future: _connected,
        builder: (context, connection) {
          if (connection.hasError) return Center(child: Text('Chat unavailable: ${connection.error}'));
          if (connection.connectionState != ConnectionState.done) {
            return const Center(child: CircularProgressIndicator());
          }
          return StreamChannelListView(
            controller: _channels,
            onChannelTap: (channel) => Navigator.of(context).push(MaterialPageRoute(
              builder: (_) => StreamChannel(
                channel: channel,
                child: const Scaffold(
                  appBar: StreamChannelHeader(),
                  body: Column(children: [Expanded(child: StreamMessageListView()), StreamMessageInput()]),
                ),
              ),
            )),
          );
        },
      ),
    );
  }
}
