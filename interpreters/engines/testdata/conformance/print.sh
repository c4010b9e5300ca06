echo "hello world"
echo "second line"
