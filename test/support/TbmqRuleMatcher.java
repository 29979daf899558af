// TBMQ's authorization decision (DefaultAuthorizationRuleService.isAuthorized): granted when one rule, compiled
// with Pattern.compile, matches the whole topic. Reads "<rules> <topic>" lines, each rule and the topic in
// base64 of UTF-8 and the rules joined by commas, and prints 1 (granted) or 0 per line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Pattern;

public class TbmqRuleMatcher {
  private static String decode(String field) {
    return new String(Base64.getDecoder().decode(field), StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    for (String line; (line = in.readLine()) != null; ) {
      String[] fields = line.split(" ", -1);
      String topic = decode(fields[1]);
      boolean granted = false;
      if (!fields[0].isEmpty()) {
        for (String rule : fields[0].split(",")) {
          if (Pattern.compile(decode(rule)).matcher(topic).matches()) granted = true;
        }
      }
      out.append(granted ? '1' : '0').append('\n');
    }
    System.out.print(out);
  }
}
