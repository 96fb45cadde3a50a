import 'package:cloud_functions/cloud_functions.dart';
import 'package:firebase_auth/firebase_auth.dart';

/// Talks to the stream-token-edge Worker through the Firebase callable
/// protocol: the same three calls the Cloud Functions answered, now at
/// `<workerUrl>/<name>`. The Firebase SDK adds the ID token itself.
class StreamTokenService {
  StreamTokenService(this.workerUrl);

  /// e.g. https://stream-token-edge.<account>.workers.dev
  /// (locally, after `npm start`: http://10.0.2.2:8787 from the Android emulator).
  final String workerUrl;

  HttpsCallable _call(String name) =>
      FirebaseFunctions.instance.httpsCallableFromUrl('$workerUrl/$name');

  /// Creates or updates the caller's Stream user, then returns a Stream token.
  Future<String> createUserAndGetToken() async =>
      (await _call('createStreamUserAndGetToken').call()).data as String;

  /// A fresh Stream token for the signed-in user (no call to Stream).
  Future<String> getToken() async =>
      (await _call('getStreamUserToken').call()).data as String;

  /// Revokes every Stream token issued to the caller so far (call on sign-out).
  Future<void> revokeTokens() async {
    await _call('revokeStreamUserToken').call();
  }

  /// For `StreamChatClient.connectUserWithProvider`: Stream calls it whenever
  /// the current token expires (the Worker issues 1-hour tokens by default),
  /// so the chat connection refreshes itself.
  Future<String> tokenProvider(String userId) {
    final user = FirebaseAuth.instance.currentUser;
    if (user == null || user.uid != userId) {
      throw StateError('No signed-in Firebase user for $userId');
    }
    return getToken();
  }
}
