import 'package:firebase_auth/firebase_auth.dart';
import 'package:firebase_core/firebase_core.dart';
import 'package:flutter/foundation.dart';
import 'package:flutter/material.dart';
import 'package:stream_chat_flutter/stream_chat_flutter.dart';

import 'stream_token_service.dart';

// What changes from the seed app (which used Cloud Functions):
//  1. `FirebaseFunctions.instance.httpsCallable(name)` becomes
//     `httpsCallableFromUrl('$workerUrl/$name')` (see stream_token_service.dart);
//  2. the chat client connects with a token *provider*, so expiring tokens are refreshed;
//  3. sign-out revokes the user's Stream tokens.
const streamApiKey = String.fromEnvironment('STREAM_API_KEY', defaultValue: 'localdevkey');
// With `adb reverse tcp:8787 tcp:8787` the device reaches `npm start` on loopback (emulator mode needs that).
const workerUrl = String.fromEnvironment('WORKER_URL', defaultValue: 'http://127.0.0.1:8787');
const useAuthEmulator = bool.fromEnvironment('USE_AUTH_EMULATOR', defaultValue: kDebugMode);

Future<void> main() async {
  WidgetsFlutterBinding.ensureInitialized();
  await Firebase.initializeApp(); // uses your google-services.json / GoogleService-Info.plist
  if (useAuthEmulator) {
    await FirebaseAuth.instance.useAuthEmulator('127.0.0.1', 9099); // after `adb reverse tcp:9099 tcp:9099`
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
      builder: (context, child) => StreamChat(client: chat, child: child),
      home: StreamBuilder<User?>(
        stream: FirebaseAuth.instance.authStateChanges(),
        builder: (context, snapshot) => snapshot.data == null
            ? SignInPage(chat: chat, tokens: tokens)
            : ChannelsPage(chat: chat, tokens: tokens),
      ),
    );
  }
}

class SignInPage extends StatefulWidget {
  const SignInPage({super.key, required this.chat, required this.tokens});

  final StreamChatClient chat;
  final StreamTokenService tokens;

  @override
  State<SignInPage> createState() => _SignInPageState();
}

class _SignInPageState extends State<SignInPage> {
  final _email = TextEditingController();
  final _password = TextEditingController();
  String? _error;

  Future<void> _signIn({required bool create}) async {
    setState(() => _error = null);
    try {
      final auth = FirebaseAuth.instance;
      final credential = create
          ? await auth.createUserWithEmailAndPassword(email: _email.text, password: _password.text)
          : await auth.signInWithEmailAndPassword(email: _email.text, password: _password.text);
      final user = credential.user!;
      // Creates/updates the Stream user (id = Firebase uid, name, image) once per sign-in.
      await widget.tokens.createUserAndGetToken();
      await widget.chat.connectUserWithProvider(
        User(id: user.uid, name: user.displayName ?? user.email, image: user.photoURL),
        widget.tokens.tokenProvider,
      );
    } catch (error) {
      setState(() => _error = '$error');
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

class ChannelsPage extends StatelessWidget {
  const ChannelsPage({super.key, required this.chat, required this.tokens});

  final StreamChatClient chat;
  final StreamTokenService tokens;

  Future<void> _signOut() async {
    await tokens.revokeTokens(); // tokens already handed out stop working
    await chat.disconnectUser();
    await FirebaseAuth.instance.signOut();
  }

  @override
  Widget build(BuildContext context) {
    final me = chat.state.currentUser;
    return Scaffold(
      appBar: AppBar(
        title: Text(me?.name ?? 'Channels'),
        actions: [IconButton(icon: const Icon(Icons.logout), onPressed: _signOut)],
      ),
      body: me == null
          ? const Center(child: CircularProgressIndicator())
          : StreamChannelListView(
              controller: StreamChannelListController(
                client: chat,
                filter: Filter.in_('members', [me.id]),
              ),
              onChannelTap: (channel) => Navigator.of(context).push(MaterialPageRoute(
                builder: (_) => StreamChannel(
                  channel: channel,
                  child: const Scaffold(
                    appBar: StreamChannelHeader(),
                    body: Column(children: [Expanded(child: StreamMessageListView()), StreamMessageInput()]),
                  ),
                ),
              )),
            ),
    );
  }
}
